"""小图阵列：把控件某个滑块的若干取值画成一排静态图，供静态网页书使用。"""

from __future__ import annotations

from ..landscapes import get_landscape
from ..trajectory import run_presets
from ._base import new_figure
from ._resolve import resolve_class
from .contour import draw_landscape, draw_trajectory


def plot_lr_grid(
    landscape="beale",
    names=("SGD", "动量", "RMSprop", "Adam"),
    lr_scales=(0.3, 1.0, 3.0),
    *,
    steps: int = 100,
    start=None,
    resolver=None,
    figsize=None,
):
    """每个小图对应一个学习率倍数（相对预设的默认学习率），返回 ``Figure``。"""
    land = get_landscape(landscape)
    ncols = len(lr_scales)
    fig, axes = new_figure(1, ncols, figsize=figsize or (3.6 * ncols, 3.4), squeeze=False)
    for ax, scale in zip(axes[0], lr_scales):
        draw_landscape(ax, land, n=80, levels=20)
        trajs = run_presets(land, names, start=start, steps=steps, lr_scale=scale,
                            resolver=resolver or resolve_class)  # fmt: skip
        for i, traj in enumerate(trajs):
            draw_trajectory(ax, traj, i, divergence_labels=True)
        ax.set_title(f"学习率 ×{scale:g}")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    fig.suptitle(f"{land.title}：不同学习率下的轨迹")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
