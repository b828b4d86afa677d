"""轨迹动画：FuncAnimation → JS HTML，元素 id 由内容决定，两次运行得到逐字节相同的 HTML。"""

from __future__ import annotations

import hashlib
import re

import matplotlib

from ..landscapes import get_landscape
from ._base import new_figure
from .contour import draw_landscape, draw_trajectory

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


def trajectory_animation(
    landscape,
    trajectories,
    *,
    frames: int = 30,
    interval: int = 120,
    figsize=(4.8, 3.6),
    dpi: int = 72,
    title: str | None = None,
):
    """轨迹逐帧生长的 ``FuncAnimation``（不受 pyplot 管理）；可存成 GIF，也可转成 JS HTML。"""
    from matplotlib.animation import FuncAnimation

    land = get_landscape(landscape)
    fig, ax = new_figure(figsize=figsize, dpi=dpi, managed=False)
    draw_landscape(ax, land, n=80, levels=20)
    artists = [draw_trajectory(ax, t, i) for i, t in enumerate(trajectories)]
    paths = [t.path.numpy() for t in trajectories]
    longest = max((len(p) for p in paths), default=1)
    ax.set_title(title or land.title)
    ax.legend(fontsize=7, loc="best", frameon=True, framealpha=0.8)
    fig.tight_layout()

    def show(frame):
        upto = 1 + round(frame * (longest - 1) / max(frames - 1, 1))
        changed = []
        for art, xy, traj in zip(artists, paths, trajectories):
            k = min(upto, len(xy))
            art["line"].set_data(xy[:k, 0], xy[:k, 1])
            art["end"].set_data(xy[k - 1 : k, 0], xy[k - 1 : k, 1])
            # 发散的轨迹画到最后一个有限点时才出现红色 ✕
            shown = traj.diverged and upto >= len(xy)
            art["diverged"].set_data(xy[-1:, 0] if shown else [], xy[-1:, 1] if shown else [])
            changed += [art["line"], art["end"], art["diverged"]]
        return changed

    return FuncAnimation(fig, show, frames=frames, interval=interval, blit=False)


def animate_trajectories(
    landscape,
    trajectories,
    *,
    frames: int = 30,
    interval: int = 120,
    figsize=(4.8, 3.6),
    dpi: int = 72,
    frame_format: str = "jpeg",
    title: str | None = None,
):
    """把若干轨迹画成动画，返回 ``IPython.display.HTML``（笔记本和静态网页书都能播放）。

    默认 30 帧、72 dpi、JPEG 帧，约几百 KB，笔记本能保持在 3 MB 以内。
    """
    from IPython.display import HTML

    anim = trajectory_animation(
        landscape, trajectories, frames=frames, interval=interval, figsize=figsize, dpi=dpi,
        title=title,
    )  # fmt: skip
    with matplotlib.rc_context({"animation.frame_format": frame_format}):
        html = anim.to_jshtml(default_mode="once")
    return HTML(stable_jshtml(offline_jshtml(html)))
