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


def _inside(x: float, y: float, xlim, ylim) -> bool:
    return xlim[0] <= x <= xlim[1] and ylim[0] <= y <= ylim[1]


def divergence_point(xy, xlim, ylim) -> tuple[float, float]:
    """发散轨迹的 ✕ 画在哪里：最后一个仍在窗口内的点离开窗口时与窗口边框的交点。

    发散的轨迹最后保留的点往往在窗口外几万倍远的地方，画在那里就看不见了。
    整条轨迹都在窗口内（例如损失先变成 nan）时取最后一个点。
    """
    pts = [(float(a), float(b)) for a, b in xy]
    inside = [i for i, (a, b) in enumerate(pts) if _inside(a, b, xlim, ylim)]
    if not inside:
        a, b = pts[0]
        return min(max(a, xlim[0]), xlim[1]), min(max(b, ylim[0]), ylim[1])
    k = inside[-1]
    if k == len(pts) - 1:
        return pts[k]
    (x0, y0), (x1, y1) = pts[k], pts[k + 1]
    # 沿线段 p_k → p_{k+1} 走到第一次碰到边框的参数 t
    t = 1.0
    for lo, hi, a, b in ((xlim[0], xlim[1], x0, x1), (ylim[0], ylim[1], y0, y1)):
        d = b - a
        if d > 0 and b > hi:
            t = min(t, (hi - a) / d)
        elif d < 0 and b < lo:
            t = min(t, (lo - a) / d)
    return x0 + t * (x1 - x0), y0 + t * (y1 - y0)


def draw_trajectory(ax, traj, index: int = 0, *, markers: bool = True,
                    divergence_labels: bool = False) -> dict:  # fmt: skip
    """画一条轨迹；返回各个图元，控件可以之后 ``set_data`` 复用。

    发散的轨迹在离开窗口处画红色 ✕（见 :func:`divergence_point`）；
    ``divergence_labels=True`` 时在 ✕ 旁边写上“某某 发散”。
    """
    color = trajectory_color(traj, index)
    xy = traj.path.numpy()
    (line,) = ax.plot(xy[:, 0], xy[:, 1], "-", color=color, lw=1.6, label=trajectory_label(traj))
    artists = {"line": line}
    if markers:
        (artists["start"],) = ax.plot(xy[:1, 0], xy[:1, 1], "o", color=color, ms=6, mec="black")
        (artists["end"],) = ax.plot(xy[-1:, 0], xy[-1:, 1], "s", color=color, ms=5, mec="black")
        (artists["diverged"],) = ax.plot([], [], "X", color=DIVERGED_COLOR, ms=11, mec="black", zorder=6)
        # 空的 ✕ 不能参与排版（它的包围盒落在画布原点，会把 tight_layout 挤坏）
        artists["diverged"].set_in_layout(False)
        if traj.diverged:
            # ✕ 画在窗口边框上：不裁剪，才能整个看见
            artists["diverged"].set_clip_on(False)
            dx, dy = divergence_point(xy, ax.get_xlim(), ax.get_ylim())
            artists["diverged"].set_data([dx], [dy])
            artists["end"].set_data([], [])
            if divergence_labels:
                # 文字朝窗口内侧偏移，几个发散点挤在一起时上下错开；不参与 tight_layout 的排版
                (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
                right = dx < (x0 + x1) / 2
                up = dy < (y0 + y1) / 2
                shift = 8 + 11 * (index % 3)
                label = ax.annotate(
                    f"{traj.label} 发散", (dx, dy), xytext=(8 if right else -8, shift if up else -shift),
                    textcoords="offset points", fontsize=8, color=DIVERGED_COLOR, zorder=7,
                    ha="left" if right else "right", va="bottom" if up else "top",
                    annotation_clip=False,
                )  # fmt: skip
                label.set_in_layout(False)
                artists["diverged_label"] = label
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
    divergence_labels: bool = True,
):
    """等高线 + 轨迹，返回 ``Figure``。笔记本里请以 ``plt.show()`` 结束单元格。"""
    land = get_landscape(landscape)
    if ax is None:
        fig, ax = new_figure(figsize=figsize)
    else:
        fig = ax.figure
    draw_landscape(ax, land, n=n, levels=levels)
    for i, traj in enumerate(trajectories):
        draw_trajectory(ax, traj, i, divergence_labels=divergence_labels)
    ax.set_title(title if title is not None else f"{land.title}：{land.formula}")
    if legend:
        ax.legend(loc="best", fontsize=8, framealpha=0.8, frameon=True)
    return fig
