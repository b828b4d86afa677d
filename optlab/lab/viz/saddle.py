"""鞍点对比：从几乎在脊线上的起点出发，SGD 长时间停在鞍点附近，自适应方法很快逃离。"""

from __future__ import annotations

from ..landscapes import get_landscape
from ..trajectory import run_presets
from ._base import new_figure
from ._resolve import resolve_class
from .contour import draw_landscape, draw_trajectory, trajectory_label


def plot_saddle_escape(
    names=("SGD", "动量", "RMSprop", "Adam"),
    *,
    start=(-1.5, 1e-3),
    steps: int = 100,
    resolver=None,
    figsize=(10, 4),
):
    """左：鞍面 x²−y² 上的轨迹；右：离开脊线的距离 |y| 随步数变化（对数纵轴），返回 ``Figure``。

    起点 y 只有 1e-3：梯度的 y 分量 −2y 极小，SGD 的步长正比于梯度，几乎不动；
    Adam、RMSprop 把梯度除以它自己的量级，y 方向每步都走接近学习率的距离。
    """
    land = get_landscape("saddle")
    trajs = run_presets(land, names, start=start, steps=steps, resolver=resolver or resolve_class)
    fig, (ax, ax2) = new_figure(1, 2, figsize=figsize)
    draw_landscape(ax, land)
    for i, traj in enumerate(trajs):
        draw_trajectory(ax, traj, i)
        ax2.plot(traj.path[:, 1].abs().numpy(), color=traj.color, label=trajectory_label(traj))
    ax.set_title(f"{land.title} {land.formula} 上的轨迹")
    ax.legend(fontsize=8, frameon=True, framealpha=0.8)
    ax2.set_yscale("log")
    ax2.set_xlabel("步数")
    ax2.set_ylabel("|y|（离开脊线的距离）")
    ax2.set_title("谁先逃离鞍点")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
