"""三维曲面 + 轨迹。"""

from __future__ import annotations

import torch

from ..landscapes import get_landscape
from ._base import new_figure, trajectory_color
from .contour import trajectory_label


def _height(land, z):
    # 值域跨多个数量级的地形画 log10(1+f)，否则谷底被压成一张平板
    return torch.log10(1 + z.clamp_min(0)) if land.levels == "log" else z


def plot_surface(landscape, trajectories=(), *, n: int = 60, elev=35, azim=-60, figsize=(6.5, 5)):
    """画地形的三维曲面和轨迹（高度取自轨迹上的函数值），返回 ``Figure``。"""
    land = get_landscape(landscape)
    fig, ax = new_figure(figsize=figsize, subplot_kw={"projection": "3d"})
    X, Y, Z = land.grid(n)
    H = _height(land, Z)
    ax.plot_surface(X.numpy(), Y.numpy(), H.numpy(), cmap="viridis", alpha=0.6, linewidth=0)
    for i, traj in enumerate(trajectories):
        xy = traj.path
        h = _height(land, traj.losses).numpy()
        color = trajectory_color(traj, i)
        ax.plot(xy[:, 0].numpy(), xy[:, 1].numpy(), h, "-", color=color, lw=2, label=trajectory_label(traj))
        ax.plot(xy[:1, 0].numpy(), xy[:1, 1].numpy(), h[:1], "o", color=color, mec="black")
    for mx, my in land.minima:
        mz = _height(land, land(torch.tensor([mx, my], dtype=torch.float64)))
        ax.plot([mx], [my], [float(mz)], "*", color="gold", ms=13, mec="black")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel(r"$\log_{10}(1+f)$" if land.levels == "log" else "f(x, y)")
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(f"{land.title}（三维）")
    if trajectories:
        ax.legend(loc="upper left", fontsize=8)
    return fig
