"""绘图模块共用的小工具：中文风格、新建图、轨迹颜色。"""

from __future__ import annotations

from matplotlib.figure import Figure

from .colors import color_for


def apply_style() -> None:
    from .style import use_chinese_style

    use_chinese_style()


def new_figure(nrows: int = 1, ncols: int = 1, *, managed: bool = True, **kwargs):
    """``managed=True`` 用 pyplot 建图（笔记本里 ``plt.show()`` 会显示它）；
    控件和动画用不受 pyplot 管理的 ``Figure``，免得多出一张图。"""
    apply_style()
    if managed:
        import matplotlib.pyplot as plt

        return plt.subplots(nrows, ncols, **kwargs)
    subplot_kw = kwargs.pop("subplot_kw", None)
    fig = Figure(**kwargs)
    axes = fig.subplots(nrows, ncols, subplot_kw=subplot_kw)
    return fig, axes


def trajectory_color(traj, index: int = 0) -> str:
    return traj.color or color_for(traj.label, index)
