"""Sphinx 扩展：构建时准备离线资源（本地 MathJax 与中文字体子集），页面不依赖任何 CDN。"""

from __future__ import annotations

import html
import importlib.util
import re
import shutil
from pathlib import Path

# MathJax 3 的 es5 目录中页面实际会加载的部分（自动加载的 TeX 扩展、菜单、无障碍模块都在内）
MATHJAX_PARTS = ["tex-mml-chtml.js", "a11y", "adaptors", "input", "output/chtml", "sre", "ui"]
MATHJAX_ENTRY = "mathjax/es5/tex-mml-chtml.js"

FONT_SOURCE_NAME = "NotoSansCJKsc-Regular.otf"
FONT_FILE = "fonts/optlab-cjk.woff"

# 字体子集始终包含的字符：中文标点、全角符号，以及主题界面可能出现的常用字
ALWAYS_CHARS = (
    "，。、；：？！“”‘’（）《》〈〉【】「」『』…—～·￥％＋－＝／"
    "目录搜索上一页下一页本页内容版权所有打印下载全屏切换主题导航返回顶部跳转"
)

# 需要由本字体负责的码位区间（其余字符交给系统字体）
CJK_RANGES = [
    (0x2E80, 0x2FDF),  # 部首
    (0x3000, 0x303F),  # 中文标点
    (0x3040, 0x30FF),  # 假名
    (0x3100, 0x312F),  # 注音
    (0x3190, 0x31FF),
    (0x3400, 0x4DBF),  # 扩展 A
    (0x4E00, 0x9FFF),  # 基本汉字
    (0xF900, 0xFAFF),  # 兼容汉字
    (0xFE30, 0xFE4F),  # 竖排兼容标点
    (0xFF00, 0xFFEF),  # 全角字符
    (0x2018, 0x2019),
    (0x201C, 0x201D),
    (0x2026, 0x2026),
    (0x2014, 0x2014),
    (0x00B7, 0x00B7),
]


def is_cjk(ch: str) -> bool:
    """字符是否属于应由中文字体渲染的区间。"""
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def unicode_range_css() -> str:
    """@font-face 的 unicode-range 值，与 CJK_RANGES 保持一致。"""
    parts = []
    for lo, hi in CJK_RANGES:
        parts.append(f"U+{lo:04X}" if lo == hi else f"U+{lo:04X}-{hi:04X}")
    return ", ".join(parts)


def mathjax_source() -> Path:
    """django-static-mathjax 包里 MathJax 3 的 es5 目录（只查找不导入，免得牵出 django）。"""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("找不到 django-static-mathjax：请先 pip install -r requirements.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"


def font_source() -> Path:
    """mplfonts 自带的 Noto Sans CJK SC 字体文件。"""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("找不到 mplfonts：请先 pip install -r requirements.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "fonts" / FONT_SOURCE_NAME


def copy_mathjax(static_dir: Path) -> None:
    """把 MathJax 复制到静态目录；已存在且大小一致的文件不重复复制。"""
    src_root = mathjax_source()
    dst_root = static_dir / "mathjax" / "es5"
    for part in MATHJAX_PARTS:
        src = src_root / part
        files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
        for file in files:
            dst = dst_root / file.relative_to(src_root)
            if dst.exists() and dst.stat().st_size == file.stat().st_size:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, dst)
    license_file = src_root.parent / "LICENSE"
    if license_file.exists():
        shutil.copy2(license_file, dst_root.parent / "LICENSE")


def collect_chars(paths: list[Path]) -> set[str]:
    """收集文件里出现的所有 CJK 字符。"""
    chars = {ch for ch in ALWAYS_CHARS if is_cjk(ch)}
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="ignore")
        # 笔记本 JSON 里的中文可能被转义成 \uXXXX，先还原
        text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        # HTML 里的字符实体（&#x5b66; 之类）也还原，免得漏掉只以实体形式出现的字
        text = html.unescape(text)
        chars.update(ch for ch in text if is_cjk(ch))
    return chars


def write_font_subset(chars: set[str], target: Path) -> None:
    """用 fontTools 生成只含所需字符的 woff 字体；字符集没变时跳过（子集化要几秒）。"""
    from fontTools import subset

    # 点开头的文件不会被 Sphinx 复制进输出目录
    stamp = target.with_name(f".{target.stem}.chars")
    wanted = "".join(sorted(chars))
    if target.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(str(font_source()), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=wanted)
    subsetter.subset(font)
    subset.save_font(font, str(target), options)
    stamp.write_text(wanted, encoding="utf-8")


def source_files(srcdir: Path) -> list[Path]:
    """书的全部源文件：笔记本、Markdown 页面与目录配置。"""
    found = [p for p in (srcdir / "notebooks").glob("*.ipynb")]
    found += [p for p in (srcdir / "book").rglob("*.md")]
    found += [srcdir / name for name in ("_config.yml", "_toc.yml") if (srcdir / name).exists()]
    return found


def prepare_sources(app) -> None:
    """构建开始前：复制 MathJax，按源文件用字生成字体子集。"""
    static_dir = Path(app.srcdir) / "book" / "_static"
    copy_mathjax(static_dir)
    write_font_subset(collect_chars(source_files(Path(app.srcdir))), static_dir / FONT_FILE)


def finish_with_pages(app, exception) -> None:
    """构建结束后：再扫描生成的 HTML（含主题界面文字），缺字则重做子集并覆盖输出。"""
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    pages = sorted(outdir.rglob("*.html"))
    pages += [p for p in (outdir / "searchindex.js",) if p.exists()]
    # 主题与插件的脚本在运行时插入的界面文字（如“复制到剪贴板”）
    pages += [p for p in (outdir / "_static").rglob("*.js") if "mathjax" not in p.parts]
    static_dir = Path(app.srcdir) / "book" / "_static"
    chars = collect_chars(source_files(Path(app.srcdir)) + pages)
    write_font_subset(chars, static_dir / FONT_FILE)
    built = outdir / "_static" / FONT_FILE
    built.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(static_dir / FONT_FILE, built)


def setup(app):
    app.connect("builder-inited", prepare_sources)
    app.connect("build-finished", finish_with_pages)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
