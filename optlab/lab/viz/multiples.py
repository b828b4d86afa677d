"""超参数小图阵列：同一个优化器、同一个地形，某个选项取几个值，每个值一张小图。"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..landscapes import get_landscape
from ..trajectory import run_trajectory
from ._base import new_figure
from .contour import draw_landscape, draw_trajectory


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plot_option_grid(
    landscape,
    optimizer,
    option: str,
    values: Sequence[Any],
    *,
    steps: int = 100,
    start=None,
    label: str | None = None,
    figsize=None,
    **options,
):
    """每个小图是 ``optimizer(**options, option=value)`` 的轨迹；返回 ``(Figure, 轨迹列表)``。

    小图标题给出取值和运行结果（发散时注明），便于在静态网页书里代替控件的滑块。
    """
    land = get_landscape(landscape)
    ncols = len(values)
    fig, axes = new_figure(1, ncols, figsize=figsize or (min(10.0, 2.6 * ncols), 2.9), squeeze=False)
    trajs = []
    for i, (ax, value) in enumerate(zip(axes[0], values)):
        name = f"{option}={_shown(value)}"
        traj = run_trajectory(land, optimizer, start=start, steps=steps, label=label or name,
                              **{**options, option: value})  # fmt: skip
        trajs.append(traj)
        draw_landscape(ax, land, n=80, levels=15)
        draw_trajectory(ax, traj, i)
        verdict = "发散" if traj.diverged else f"损失 {float(traj.losses[-1]):.2g}"
        ax.set_title(f"{name}\n{verdict}", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.suptitle(f"{land.title}上的 {trajs[0].optimizer}：{option} 的影响（{steps} 步）", fontsize=11)
    fig.tight_layout()
    return fig, trajs
