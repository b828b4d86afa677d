"""生成前言页的题图 book/_static/hero.gif：Beale 函数上各优化器的轨迹逐步生长的动画。

用法（仓库根目录）：``.venv/bin/python tools/make_hero.py``。图随仓库提交，构建时不重新生成。

- 全部帧共用**一个**全局调色板，里面精确地包含每个优化器在 ``color_for`` 里的颜色：
  同一条曲线在每一帧、在书里每张图中都是同一种颜色（逐帧各建调色板会让颜色来回变）；
- 帧按步数的对数均匀分布：运动集中在前几十步，早期帧密、后期帧疏；
- 最后一帧停留 ``HOLD_MS`` 毫秒，让读者看清终点。
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from optlab.lab.tuning import tune_presets
from optlab.lab.viz.animation import trajectory_frames
from optlab.lab.viz.colors import DIVERGED_COLOR, color_for
from optlab.lab.viz.style import use_chinese_style

STATIC = Path(__file__).resolve().parent.parent / "book" / "_static"
OUT = STATIC / "hero.gif"
NAMES = ("SGD", "动量", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam", "NAdam")
STEPS = 300
TITLE = f"Beale 函数上八种优化器的轨迹（各自调过学习率，{STEPS} 步）"
FRAMES = 40
FRAME_MS = 110
HOLD_MS = 2500
# 图中其余的固定颜色：极小值 ★、描边、背景、发散 ✕
EXTRA_COLORS = ("#ffd700", "#000000", "#ffffff", DIVERGED_COLOR)


def hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


def global_palette(images: list[Image.Image], fixed: list[tuple[int, int, int]]) -> Image.Image:
    """固定颜色放在前面，其余 256 − len(fixed) 个颜色由最后一帧（内容最全）做中位切分得到。"""
    rest = images[-1].quantize(colors=256 - len(fixed), method=Image.Quantize.MEDIANCUT)
    flat = rest.getpalette()[: 3 * (256 - len(fixed))]
    colors = list(dict.fromkeys(fixed + [tuple(flat[i : i + 3]) for i in range(0, len(flat), 3)]))
    colors = (colors + [(0, 0, 0)] * 256)[:256]
    pal = Image.new("P", (1, 1))
    pal.putpalette([c for rgb in colors for c in rgb])
    return pal


def to_palette(image: Image.Image, pal: Image.Image) -> Image.Image:
    """每个像素取调色板里**最近**的颜色（精确计算；Pillow 自带的映射是近似的，会把
    #ff7f0e 映射成相邻的 #fd7f0f）。"""
    colors = np.array(pal.getpalette()[:768], dtype=np.int64).reshape(-1, 3)
    rgb = np.asarray(image, dtype=np.int64).reshape(-1, 3)
    uniq, inverse = np.unique(rgb, axis=0, return_inverse=True)
    nearest = ((uniq[:, None, :] - colors[None, :, :]) ** 2).sum(-1).argmin(1)
    out = Image.fromarray(nearest[inverse.reshape(-1)].astype(np.uint8).reshape(image.height, image.width), "P")
    out.putpalette(pal.getpalette()[:768])
    return out


def render_frames() -> list[Image.Image]:
    use_chinese_style()
    # 与第 10 节相同：每个优化器在预设学习率 ×0.1 … ×10 中挑损失最快稳定低于 0.01 的一档
    trajs = [t.best for t in tune_presets("beale", NAMES, steps=STEPS)]
    fig, show, _ = trajectory_frames(
        "beale", trajs, frames=FRAMES, figsize=(8, 4.5), dpi=80, title=TITLE, timing="log",
        legend_fontsize=10, legend_loc="outside",
    )  # fmt: skip
    canvas = FigureCanvasAgg(fig)
    images = []
    for f in range(FRAMES):
        show(f)
        canvas.draw()
        images.append(Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
                      .convert("RGB"))  # fmt: skip
    return images


def main() -> None:
    images = render_frames()
    fixed = [hex_rgb(color_for(n)) for n in NAMES] + [hex_rgb(c) for c in EXTRA_COLORS]
    pal = global_palette(images, fixed)
    frames = [to_palette(im, pal) for im in images]
    durations = [FRAME_MS] * (len(frames) - 1) + [HOLD_MS]
    # 显式给出 palette：Pillow 只写一个全局调色板，各帧不再带局部调色板
    frames[0].save(OUT, save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   optimize=False, palette=bytes(pal.getpalette()[:768]))  # fmt: skip
    print(f"已写入 {OUT}（{OUT.stat().st_size // 1024} KiB，{len(frames)} 帧）")


if __name__ == "__main__":
    main()
