"""等高线图 + 轨迹：起点 ●、终点 ■、极小值 ★、鞍点 ◆、发散处红色 ✕。"""

from __future__ import annotations

from ..landscapes import get_landscape
from ._base import new_figure, trajectory_color
from .colors import DIVERGED_COLOR


def draw_landscape(ax, landscape, *, n: int = 120, levels: int = 25, filled: bool = True):
    """在 ``ax`` 上画地形的等高线、极小值和鞍点；返回等高线对象。"""
    land = get_landscape(landscape)
    X, Y, Z = (t.numpy() for t in land.grid(n))
    lv = land.contour_levels(land.grid(n)[2], levels)
    cs = None
    if filled:
        cs = ax.contourf(X, Y, Z, levels=lv, cmap="Blues_r", alpha=0.55, extend="both")
    ax.contour(X, Y, Z, levels=lv, colors="#555555", linewidths=0.4, alpha=0.6)
    for i, (mx, my) in enumerate(land.minima):
        ax.plot(mx, my, "*", ms=13, color="gold", mec="black", mew=0.6, zorder=5,
                label="极小值" if i == 0 else None)  # fmt: skip
    for i, (sx, sy) in enumerate(land.saddles):
        ax.plot(sx, sy, "D", ms=6, color="white", mec="black", mew=0.8, zorder=5,
                label="鞍点" if i == 0 else None)  # fmt: skip
    ax.set_xlim(*land.xlim)
    ax.set_ylim(*land.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(False)
    return cs


def trajectory_label(traj) -> str:
    return f"{traj.label}（发散）" if traj.diverged else traj.label


def draw_trajectory(ax, traj, index: int = 0, *, markers: bool = True) -> dict:
    """画一条轨迹；返回各个图元，控件可以之后 ``set_data`` 复用。"""
    color = trajectory_color(traj, index)
    xy = traj.path.numpy()
    (line,) = ax.plot(xy[:, 0], xy[:, 1], "-", color=color, lw=1.6, label=trajectory_label(traj))
    artists = {"line": line}
    if markers:
        (artists["start"],) = ax.plot(xy[:1, 0], xy[:1, 1], "o", color=color, ms=6, mec="black")
        (artists["end"],) = ax.plot(xy[-1:, 0], xy[-1:, 1], "s", color=color, ms=5, mec="black")
        (artists["diverged"],) = ax.plot([], [], "X", color=DIVERGED_COLOR, ms=11, mec="black", zorder=6)
        if traj.diverged:
            artists["diverged"].set_data(xy[-1:, 0], xy[-1:, 1])
            artists["end"].set_data([], [])
    return artists


def plot_contour(
    landscape,
    trajectories=(),
    *,
    ax=None,
    n: int = 120,
    levels: int = 25,
    title: str | None = None,
    legend: bool = True,
    figsize=(6.0, 4.5),
):
    """等高线 + 轨迹，返回 ``Figure``。笔记本里请以 ``plt.show()`` 结束单元格。"""
    land = get_landscape(landscape)
    if ax is None:
        fig, ax = new_figure(figsize=figsize)
    else:
        fig = ax.figure
    draw_landscape(ax, land, n=n, levels=levels)
    for i, traj in enumerate(trajectories):
        draw_trajectory(ax, traj, i)
    ax.set_title(title if title is not None else f"{land.title}：{land.formula}")
    if legend:
        ax.legend(loc="best", fontsize=8, framealpha=0.8, frameon=True)
    return fig
