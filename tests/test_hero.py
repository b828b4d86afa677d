"""前言页题图 book/_static/hero.gif：一个全局调色板、曲线颜色与 color_for 一致、终帧停留、体积小。"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image

from optlab.lab.viz.colors import color_for

ROOT = Path(__file__).resolve().parent.parent
HERO = ROOT / "book" / "_static" / "hero.gif"


def load_tool():
    spec = importlib.util.spec_from_file_location("make_hero", ROOT / "tools" / "make_hero.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gif_blocks(data: bytes):
    """逐块解析 GIF：返回 (是否有全局调色板, 每帧图像描述符里的“局部调色板”标志列表)。"""
    assert data[:6] in (b"GIF87a", b"GIF89a")
    packed = data[10]
    has_global = bool(packed & 0x80)
    pos = 13 + (3 * 2 ** ((packed & 7) + 1) if has_global else 0)
    local_flags = []

    def skip_sub_blocks(p):
        while data[p]:
            p += data[p] + 1
        return p + 1

    while pos < len(data):
        kind = data[pos]
        if kind == 0x3B:  # 结尾
            break
        if kind == 0x21:  # 扩展块
            pos = skip_sub_blocks(pos + 2)
        elif kind == 0x2C:  # 图像描述符
            flags = data[pos + 9]
            local_flags.append(bool(flags & 0x80))
            pos += 10
            if flags & 0x80:
                pos += 3 * 2 ** ((flags & 7) + 1)
            pos = skip_sub_blocks(pos + 1)  # 跳过 LZW 最小码长
        else:
            raise AssertionError(f"无法解析的 GIF 块 0x{kind:02x}（位置 {pos}）")
    return has_global, local_flags


def hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


@pytest.fixture(scope="module")
def tool():
    return load_tool()


def test_one_global_palette_for_all_frames():
    data = HERO.read_bytes()
    has_global, local_flags = gif_blocks(data)
    assert has_global, "GIF 应有全局调色板"
    assert len(local_flags) >= 20
    assert not any(local_flags), f"{sum(local_flags)} 帧带有自己的局部调色板，颜色会逐帧变化"


def test_curve_colours_match_color_for(tool):
    with Image.open(HERO) as im:
        palette = im.getpalette()[: 3 * 256]
        colors = {tuple(palette[i : i + 3]) for i in range(0, len(palette), 3)}
        im.seek(im.n_frames - 1)
        last = im.convert("RGB")
    counts = {rgb: n for n, rgb in last.getcolors(maxcolors=1 << 16)}
    for name in tool.NAMES:
        rgb = hex_rgb(color_for(name))
        assert rgb in colors, f"{name} 的颜色 {color_for(name)} 不在调色板里"
        # 曲线（和图例）上应有相当多的像素恰好是这个颜色
        assert counts.get(rgb, 0) >= 40, f"终帧里 {name} 的颜色 {color_for(name)} 只有 {counts.get(rgb, 0)} 个像素"
    rgbs = [hex_rgb(color_for(n)) for n in tool.NAMES]
    assert len(set(rgbs)) == len(rgbs), "各优化器的颜色应互不相同"
    assert all(max(rgb) > 60 for rgb in rgbs), "不应有（近乎）黑色的曲线"


def test_last_frame_is_held_and_file_is_small(tool):
    assert HERO.stat().st_size <= 1_500_000
    with Image.open(HERO) as im:
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
    assert durations[-1] >= 2000, f"终帧只停留 {durations[-1]} ms"
    assert sum(durations[:-1]) >= 2000
