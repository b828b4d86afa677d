"""生成前言页的题图 book/_static/hero.png：Beale 函数上各优化器的轨迹。

用法（仓库根目录）：``.venv/bin/python tools/make_hero.py``。图随仓库提交，构建时不重新生成。
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from optlab.trajectory import run_presets
from optlab.viz import plot_contour
from optlab.viz.style import use_chinese_style

OUT = Path(__file__).resolve().parent.parent / "book" / "_static" / "hero.png"
NAMES = ("SGD", "动量", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam", "NAdam")


def main() -> None:
    use_chinese_style()
    trajs = run_presets("beale", NAMES, steps=300)
    fig = plot_contour("beale", trajs, figsize=(8, 4), title="Beale 函数上八种优化器的轨迹（300 步）")
    fig.savefig(OUT, dpi=80, bbox_inches="tight")
    plt.close(fig)
    print(f"已写入 {OUT}（{OUT.stat().st_size // 1024} KiB）")


if __name__ == "__main__":
    main()
