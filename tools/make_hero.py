"""生成前言页的题图 book/_static/hero.gif：Beale 函数上各优化器的轨迹逐步生长的动画。

用法（仓库根目录）：``.venv/bin/python tools/make_hero.py``。图随仓库提交，构建时不重新生成。
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib.animation import PillowWriter

from optlab.lab.trajectory import run_presets
from optlab.lab.viz.animation import trajectory_animation
from optlab.lab.viz.style import use_chinese_style

STATIC = Path(__file__).resolve().parent.parent / "book" / "_static"
NAMES = ("SGD", "动量", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam", "NAdam")
TITLE = "Beale 函数上八种优化器的轨迹（300 步）"


def main() -> None:
    use_chinese_style()
    trajs = run_presets("beale", NAMES, steps=300)

    # 动画的画布不归 pyplot 管理，用完即回收，不必 close
    anim = trajectory_animation("beale", trajs, frames=30, figsize=(8, 4), dpi=60, title=TITLE)
    anim.save(STATIC / "hero.gif", writer=PillowWriter(fps=6))
    out = STATIC / "hero.gif"
    print(f"已写入 {out}（{out.stat().st_size // 1024} KiB）")


if __name__ == "__main__":
    main()
