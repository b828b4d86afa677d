"""三维曲面 + 轨迹。"""

from __future__ import annotations

import torch

from ..landscapes import get_landscape
from ._base import new_figure, trajectory_color
from .contour import trajectory_label


def _height(land, z):
    # 值域跨多个数量级的地形画 log10(1+f)，否则谷底被压成一张平板
    return torch.log10(1 + z.clamp_min(0)) if land.levels == "log" else z


def _inside_prefix(land, traj):
    """轨迹在窗口内的前缀（第一次离开窗口之前的点）。"""
    xy = traj.path
    inside = ((xy[:, 0] >= land.xlim[0]) & (xy[:, 0] <= land.xlim[1])
              & (xy[:, 1] >= land.ylim[0]) & (xy[:, 1] <= land.ylim[1]))  # fmt: skip
    out = (~inside).nonzero()
    k = int(out[0, 0]) if len(out) else len(xy)
    return xy[:k], traj.losses[:k]


def plot_surface(landscape, trajectories=(), *, n: int = 60, elev=35, azim=-60, figsize=(6.5, 5),
                 clip_to_window: bool = True):  # fmt: skip
    """画地形的三维曲面和轨迹（高度取自轨迹上的函数值），返回 ``Figure``。

    轨迹画在曲面之上（不参与深度排序，免得被半透明的曲面盖住）；``clip_to_window`` 时
    只画轨迹第一次离开窗口之前的部分，免得飞出去的点把坐标轴撑大。
    """
    land = get_landscape(landscape)
    fig, ax = new_figure(figsize=figsize, subplot_kw={"projection": "3d", "computed_zorder": False})
    X, Y, Z = land.grid(n)
    H = _height(land, Z)
    ax.plot_surface(X.numpy(), Y.numpy(), H.numpy(), cmap="viridis", alpha=0.6, linewidth=0, zorder=1)
    for i, traj in enumerate(trajectories):
        xy, losses = _inside_prefix(land, traj) if clip_to_window else (traj.path, traj.losses)
        h = _height(land, losses).numpy()
        color = trajectory_color(traj, i)
        ax.plot(xy[:, 0].numpy(), xy[:, 1].numpy(), h, "-", color=color, lw=2.2,
                label=trajectory_label(traj), zorder=3)  # fmt: skip
        ax.plot(xy[:1, 0].numpy(), xy[:1, 1].numpy(), h[:1], "o", color=color, mec="black", zorder=4)
        ax.plot(xy[-1:, 0].numpy(), xy[-1:, 1].numpy(), h[-1:], "s", color=color, mec="black", ms=5,
                zorder=4)  # fmt: skip
    for mx, my in land.minima:
        mz = _height(land, land(torch.tensor([mx, my], dtype=torch.float64)))
        ax.plot([mx], [my], [float(mz)], "*", color="gold", ms=13, mec="black", zorder=5)
    for sx, sy in land.saddles:
        sz = _height(land, land(torch.tensor([sx, sy], dtype=torch.float64)))
        ax.plot([sx], [sy], [float(sz)], "D", color="white", ms=6, mec="black", zorder=5)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel(r"$\log_{10}(1+f)$" if land.levels == "log" else "f(x, y)")
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(f"{land.title}（三维）")
    if trajectories:
        ax.legend(loc="upper left", fontsize=8)
    return fig
