"""轨迹动画：FuncAnimation → JS HTML，元素 id 由内容决定，两次运行得到逐字节相同的 HTML。"""

from __future__ import annotations

import hashlib
import re

import matplotlib
import torch

from ..landscapes import get_landscape
from ._base import new_figure
from .contour import divergence_point, draw_landscape, draw_trajectory

# matplotlib 的播放按钮用 CDN 上的 Font Awesome 图标；离线的书加载不到，换成普通字符
_ICONS = {
    "fa fa-minus": "−",
    "fa fa-fast-backward": "⏮",
    "fa fa-step-backward": "◀|",
    "fa fa-play fa-flip-horizontal": "◀",
    "fa fa-pause": "⏸",
    "fa fa-play": "▶",
    "fa fa-step-forward": "|▶",
    "fa fa-fast-forward": "⏭",
    "fa fa-plus": "+",
}


def offline_jshtml(html: str) -> str:
    """去掉指向 CDN 的样式表，按钮图标改成 Unicode 字符，页面不再访问网络。"""
    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html, flags=re.DOTALL)
    for css_class, glyph in _ICONS.items():
        html = html.replace(f'<i class="{css_class}"></i>', glyph)
    return html


def stable_jshtml(html: str) -> str:
    """把 matplotlib 随机生成的 32 位十六进制 id 换成由内容计算的 id。"""
    ids = sorted(set(re.findall(r"[0-9a-f]{32}", html)))
    blank = html
    for i, old in enumerate(ids):
        blank = blank.replace(old, f"@ID{i}@")
    digest = hashlib.sha1(blank.encode()).hexdigest()
    for i in range(len(ids)):
        blank = blank.replace(f"@ID{i}@", f"{digest[:24]}{i:08x}")
    return blank


def frame_steps(paths, frames: int, timing: str = "linear", *, xlim=None, ylim=None) -> list[int]:
    """第 f 帧显示每条轨迹的前 ``upto`` 个点；返回各帧的 ``upto``（从 1 到最长轨迹的点数）。

    - ``"linear"``：按步数均匀取帧（运动多集中在前几帧）；
    - ``"log"``：按步数的对数均匀取帧，早期帧密、后期帧疏；
    - ``"length"``：按路程均匀取帧，每帧各轨迹平均走过的路程（占各自总路程的比例）相同；
      给出 ``xlim``/``ylim`` 时先把点夹到窗口里，免得飞出窗口的一步占掉全部路程。
    """
    longest = max((len(p) for p in paths), default=1)
    if timing == "linear":
        return [1 + round(f * (longest - 1) / max(frames - 1, 1)) for f in range(frames)]
    if frames <= 1 or longest <= 1:
        return [longest] * max(frames, 1)
    ts = [f / (frames - 1) for f in range(frames)]
    if timing == "log":
        # 按对数均匀取点，再保证每帧至少前进一步（帧数不超过点数时），免得开头几帧重复
        out = []
        for t in ts:
            k = max(1, round(longest**t))
            if out and k <= out[-1]:
                k = out[-1] + 1
            out.append(min(k, longest))
        return out
    if timing != "length":
        raise ValueError(f"未知的 timing {timing!r}；可选：linear、log、length")
    progress = torch.zeros(longest, dtype=torch.float64)
    for p in paths:
        xy = torch.as_tensor(p, dtype=torch.float64)
        if xlim is not None and ylim is not None:
            xy = torch.stack((xy[:, 0].clamp(*xlim), xy[:, 1].clamp(*ylim)), dim=1)
        seg = (xy[1:] - xy[:-1]).norm(dim=1).nan_to_num(0.0)
        cum = torch.cat((torch.zeros(1, dtype=torch.float64), seg.cumsum(0)))
        cum = cum / cum[-1] if float(cum[-1]) > 0 else torch.ones_like(cum)
        # 轨迹比最长的短（发散截断）时，之后一直算走完
        progress += torch.cat((cum, torch.ones(longest - len(cum), dtype=torch.float64)))
    progress /= max(len(paths), 1)
    return [min(longest, 1 + int(torch.searchsorted(progress, t - 1e-12))) for t in ts]


def trajectory_frames(
    landscape,
    trajectories,
    *,
    frames: int = 30,
    figsize=(4.8, 3.6),
    dpi: int = 72,
    title: str | None = None,
    timing: str = "linear",
    legend_fontsize: float = 7,
    legend_loc: str = "best",
):
    """画好背景，返回 ``(fig, show, steps)``：``show(f)`` 把图更新到第 f 帧，``steps[f]`` 是该帧的点数。"""
    land = get_landscape(landscape)
    fig, ax = new_figure(figsize=figsize, dpi=dpi, managed=False)
    draw_landscape(ax, land, n=80, levels=20)
    artists = [draw_trajectory(ax, t, i) for i, t in enumerate(trajectories)]
    paths = [t.path.numpy() for t in trajectories]
    steps = frame_steps(paths, frames, timing, xlim=land.xlim, ylim=land.ylim)
    crosses = [
        divergence_point(xy, land.xlim, land.ylim) if t.diverged else None
        for xy, t in zip(paths, trajectories)
    ]
    ax.set_title(title or land.title)
    if legend_loc == "outside":
        # 图例放在坐标区右侧，不遮挡轨迹
        ax.legend(fontsize=legend_fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  frameon=True, framealpha=0.8, borderaxespad=0)  # fmt: skip
    else:
        ax.legend(fontsize=legend_fontsize, loc=legend_loc, frameon=True, framealpha=0.8)
    fig.tight_layout()

    def show(frame):
        upto = steps[frame]
        changed = []
        for art, xy, cross in zip(artists, paths, crosses):
            k = min(upto, len(xy))
            art["line"].set_data(xy[:k, 0], xy[:k, 1])
            art["end"].set_data(xy[k - 1 : k, 0], xy[k - 1 : k, 1])
            # 发散的轨迹画到最后一个有限点时才出现红色 ✕（画在离开窗口的地方）
            shown = cross is not None and upto >= len(xy)
            art["diverged"].set_data([cross[0]] if shown else [], [cross[1]] if shown else [])
            changed += [art["line"], art["end"], art["diverged"]]
        return changed

    return fig, show, steps


def trajectory_animation(landscape, trajectories, *, interval: int = 120, **frame_options):
    """轨迹逐帧生长的 ``FuncAnimation``（不受 pyplot 管理）；可存成 GIF，也可转成 JS HTML。

    ``interval`` 是相邻两帧的毫秒数；其余关键字参数（``frames``、``figsize``、``dpi``、``title``、
    ``timing``、``legend_fontsize``、``legend_loc``）原样交给 :func:`trajectory_frames`，
    ``timing`` 决定各帧对应的步数（见 :func:`frame_steps`）。
    """
    from matplotlib.animation import FuncAnimation

    fig, show, steps = trajectory_frames(landscape, trajectories, **frame_options)
    return FuncAnimation(fig, show, frames=len(steps), interval=interval, blit=False)


def animate_trajectories(landscape, trajectories, *, frame_format: str = "jpeg", **options):
    """把若干轨迹画成动画，返回 ``IPython.display.HTML``（笔记本和静态网页书都能播放）。

    ``frame_format`` 是嵌入的帧图像格式；其余关键字参数同 :func:`trajectory_animation`
    （``interval``）与 :func:`trajectory_frames`（``frames``、``figsize``、``dpi``、``title``、
    ``timing``、``legend_fontsize``、``legend_loc``）。
    默认 30 帧、72 dpi、JPEG 帧，约几百 KB，笔记本能保持在 3 MB 以内。
    ``timing="log"`` 或 ``"length"`` 让帧集中在运动多的早期（见 :func:`frame_steps`）。
    """
    from IPython.display import HTML

    anim = trajectory_animation(landscape, trajectories, **options)
    with matplotlib.rc_context({"animation.frame_format": frame_format}):
        html = anim.to_jshtml(default_mode="once")
    return HTML(stable_jshtml(offline_jshtml(html)))
