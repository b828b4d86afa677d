"""统一的 matplotlib 中文绘图风格。"""

from __future__ import annotations

from pathlib import Path

# 依次尝试的中文字体：先用 mplfonts 自带的，再照顾 Windows / macOS / Linux 常见字体
CHINESE_FONTS = [
    "Noto Sans CJK SC",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Heiti SC",
    "WenQuanYi Micro Hei",
    "DejaVu Sans",
]

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (6.0, 3.6),
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "legend.frameon": False,
}


def bundled_font_files() -> list[Path]:
    """mplfonts 包里自带的无衬线中文字体文件（没装 mplfonts 时返回空列表）。"""
    try:
        import mplfonts
    except ImportError:
        return []
    font_dir = Path(mplfonts.__file__).parent / "fonts"
    return sorted(font_dir.glob("NotoSansCJK*.otf"))


def use_chinese_style() -> None:
    """注册中文字体并设置简洁统一的绘图风格；可重复调用。"""
    import matplotlib
    import matplotlib.pyplot  # 先让后端（如 Jupyter 内联后端）应用自己的设置，再覆盖
    from matplotlib import font_manager

    known = {Path(f.fname) for f in font_manager.fontManager.ttflist}
    for path in bundled_font_files():
        # matplotlib 的字体缓存可能早于 mplfonts 的安装，直接注册文件最可靠
        if path not in known:
            font_manager.fontManager.addfont(str(path))

    matplotlib.rcParams.update(STYLE)
    matplotlib.rcParams["font.family"] = "sans-serif"
    others = [f for f in matplotlib.rcParams["font.sans-serif"] if f not in CHINESE_FONTS]
    matplotlib.rcParams["font.sans-serif"] = CHINESE_FONTS + others
    # 中文字体里通常没有 Unicode 负号，改用 ASCII 连字符
    matplotlib.rcParams["axes.unicode_minus"] = False
