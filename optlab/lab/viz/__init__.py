"""optlab 的可视化工具（绘图、动画、交互控件）。

所有绘图函数都返回 ``matplotlib.figure.Figure``；笔记本里以 ``plt.show()`` 结束单元格，
避免多出一行 ``<Figure ...>``。控件见 ``optlab.lab.viz.widgets``。
"""

from .animation import animate_trajectories, stable_jshtml
from .colors import PRESET_COLORS, color_for
from .contour import draw_landscape, draw_trajectory, plot_contour
from .curves import plot_losses, plot_schedule, schedule_values
from .grid import plot_lr_grid
from .saddle import plot_saddle_escape
from .style import use_chinese_style
from .surface import plot_surface
from .widgets import optimizer_explorer, scheduler_explorer

__all__ = [
    "PRESET_COLORS",
    "animate_trajectories",
    "color_for",
    "draw_landscape",
    "draw_trajectory",
    "optimizer_explorer",
    "plot_contour",
    "plot_losses",
    "plot_lr_grid",
    "plot_saddle_escape",
    "plot_schedule",
    "plot_surface",
    "schedule_values",
    "scheduler_explorer",
    "stable_jshtml",
    "use_chinese_style",
]
