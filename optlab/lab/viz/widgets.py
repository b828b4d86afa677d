"""交互控件（ipywidgets 8）：优化器探索器和调度器探索器。

图画在不受 pyplot 管理的 Figure 上，渲染成 PNG 放进 ``ipywidgets.Image``，
所以不需要 ipympl，也能在 pytest 里无界面地驱动：改 ``explorer.controls[...].value``，
检查 ``explorer.image.value`` / ``explorer.trajectories`` 是否变化。

静态网页书里没有内核，控件不会运行。所以探索器显示时给出两种表示（MIME 包）：
ipywidgets 的控件视图（JupyterLab 里用它，实时重算），以及 ``text/html``——用 optlab 预先算好的
数据加一个自写的 JS 查看器（见 ``optlab.lab.viz.web``），网页书优先显示它（``_config.yml`` 里的
``nb_mime_priority_overrides``）。也可以用 ``explorer.static_figure()`` 或 ``grid.plot_lr_grid`` 画普通图；
``show_static=True`` 时，显示控件后紧跟一张初始状态的静态图。
"""

from __future__ import annotations

import ipywidgets as W

from ..landscapes import LANDSCAPES, get_landscape
from ..trajectory import PRESETS, run_presets
from ._base import apply_style, new_figure
from ._render import BlitRenderer, figure_png
from ._resolve import resolve_class
from .colors import DIVERGED_COLOR
from .contour import draw_landscape, trajectory_label

ADAM_FAMILY = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam"})
DEFAULT_NAMES = ("SGD", "动量", "Nesterov", "Adagrad", "RMSprop", "Adam", "AdamW", "NAdam")


class _Explorer:
    """两个探索器共用：显示、静态快照、渲染计数（测试用）。"""

    show_static = False

    def web_html(self) -> str:
        """网页版（预先算好的数据 + JS 查看器）的 HTML；第一次调用时计算，之后复用。"""
        if getattr(self, "_web_html", None) is None:
            self._web_html = self._make_web_html()
        return self._web_html

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = f"{type(self).__name__}（在 JupyterLab 里是可交互的控件，网页版是预先算好的查看器）"
        bundle["text/html"] = self.web_html()
        return bundle

    def _ipython_display_(self):
        from IPython.display import Image, display

        display(self._repr_mimebundle_(), raw=True)
        if self.show_static:
            display(Image(figure_png(self.figure)))

    def static_figure(self):
        """当前状态的普通 matplotlib 图（受 pyplot 管理，``plt.show()`` 显示）。"""
        import matplotlib.pyplot as plt

        apply_style()
        fig = plt.figure(figsize=self.figure.get_size_inches())
        # 用占满整张图的坐标轴显示快照：笔记本内联后端按 bbox_inches="tight" 裁剪，
        # 只有 figimage 而没有坐标轴时会被裁成空图
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(_png_array(figure_png(self.figure)))
        ax.set_axis_off()
        return fig


def _png_array(data: bytes):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)))


class OptimizerExplorer(_Explorer):
    """在一个地形上比较多种优化器的轨迹。

    “学习率 ×” 是相对每个预设默认学习率的倍数（SGD 与 Adam 的合适学习率相差几个数量级，
    用同一个绝对值无法同时看清）。动量滑块作用于带动量的 SGD 预设，β₁/β₂ 作用于 Adam 一族。
    """

    def __init__(self, landscape="beale", names=DEFAULT_NAMES, *, steps=200, resolver=None,
                 figsize=(6.4, 4.6), dpi=80, show_static=False):  # fmt: skip
        apply_style()
        land = get_landscape(landscape)
        self.resolver = resolver or resolve_class
        self._web_args = (land.name, tuple(names), steps)
        self.show_static = show_static
        self.render_count = 0
        self.trajectories = []
        style = {"description_width": "70px"}
        layout = W.Layout(width="300px")
        self.controls = {
            "landscape": W.Dropdown(options=[(v.title, k) for k, v in LANDSCAPES.items()],
                                    value=land.name, description="地形", style=style, layout=layout),
            "optimizers": W.SelectMultiple(options=list(PRESETS), value=tuple(names), rows=8,
                                           description="优化器", style=style, layout=layout),
            "lr_scale": W.FloatLogSlider(value=1.0, base=10, min=-2, max=2, step=0.05,
                                         description="学习率 ×", style=style, layout=layout),
            "momentum": W.FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01,
                                      description="动量", style=style, layout=layout),
            "beta1": W.FloatSlider(value=0.9, min=0.0, max=0.999, step=0.001, readout_format=".3f",
                                   description="β₁", style=style, layout=layout),
            "beta2": W.FloatSlider(value=0.999, min=0.9, max=0.9999, step=0.0001, readout_format=".4f",
                                   description="β₂", style=style, layout=layout),
            "steps": W.IntSlider(value=steps, min=10, max=500, step=10,
                                 description="步数", style=style, layout=layout),
            "x0": W.FloatSlider(description="起点 x", style=style, layout=layout),
            "y0": W.FloatSlider(description="起点 y", style=style, layout=layout),
        }  # fmt: skip
        self._busy = False
        self._set_start_sliders(land)
        self.image = W.Image(format="png")
        self.status = W.HTML()
        self.figure, self.ax = new_figure(figsize=figsize, dpi=dpi, managed=False)
        self.renderer = BlitRenderer(self.figure)
        self._draw_background(land)
        self.widget = W.HBox([W.VBox(list(self.controls.values())), W.VBox([self.image, self.status])])
        for name, control in self.controls.items():
            control.observe(self._on_landscape if name == "landscape" else self._on_change, names="value")
        self.update()

    def _make_web_html(self) -> str:
        from .web import optimizer_explorer_html

        landscape, names, steps = self._web_args
        return optimizer_explorer_html(landscape, names, steps=steps, resolver=self.resolver)

    # ---- 事件 ----
    def _set_start_sliders(self, land):
        self._busy = True
        try:
            for key, lim, val in (("x0", land.xlim, land.start[0]), ("y0", land.ylim, land.start[1])):
                s = self.controls[key]
                s.min, s.max = -1e9, 1e9  # 先放宽，避免新旧范围不相交时报错
                s.min, s.max, s.step = lim[0], lim[1], (lim[1] - lim[0]) / 200
                s.value = val
        finally:
            self._busy = False

    def _on_landscape(self, change):
        land = get_landscape(change["new"])
        self._set_start_sliders(land)
        self._draw_background(land)
        self.update()

    def _on_change(self, change):
        if not self._busy:
            self.update()

    # ---- 计算与绘制 ----
    def _draw_background(self, land):
        self.ax.clear()
        draw_landscape(self.ax, land, n=100, levels=20)
        self.ax.set_title(f"{land.title}：{land.formula}")
        self._lines = {}
        self._legend_labels = None
        self.renderer.invalidate()

    def _overrides(self, names):
        c = self.controls
        out = {}
        for n in names:
            preset = PRESETS[n]
            if "momentum" in preset.options:
                out[n] = {"momentum": c["momentum"].value}
            elif preset.optimizer in ADAM_FAMILY:
                out[n] = {"betas": (c["beta1"].value, c["beta2"].value)}
        return out

    def compute(self):
        c = self.controls
        names = list(c["optimizers"].value)
        return run_presets(
            c["landscape"].value, names, start=(c["x0"].value, c["y0"].value), steps=c["steps"].value,
            lr_scale=c["lr_scale"].value, overrides=self._overrides(names), resolver=self.resolver,
        )  # fmt: skip

    def update(self):
        """重算全部轨迹并重画；返回这次的轨迹列表。"""
        self.trajectories = self.compute()
        foreground = []
        for traj in self.trajectories:
            line, start, end = self._line_for(traj.label, traj.color)
            xy = traj.path.numpy()
            line.set_data(xy[:, 0], xy[:, 1])
            line.set_label(trajectory_label(traj))
            start.set_data(xy[:1, 0], xy[:1, 1])
            end.set_data(xy[-1:, 0], xy[-1:, 1])
            style = ("X", DIVERGED_COLOR, 11) if traj.diverged else ("s", traj.color, 5)
            end.set_marker(style[0])
            end.set_color(style[1])
            end.set_markersize(style[2])
            foreground += [line, start, end]
        for label, artists in self._lines.items():
            visible = any(t.label == label for t in self.trajectories)
            for a in artists:
                a.set_visible(visible)
        # 图例只在标签（含“发散”）变化时重画，并放进缓存的背景里：每次重画文字很慢
        labels = tuple(trajectory_label(t) for t in self.trajectories)
        if labels != self._legend_labels:
            self._legend_labels = labels
            self.ax.legend(handles=foreground[::3], loc="upper right", fontsize=7,
                           frameon=True, framealpha=0.85)  # fmt: skip
            self.renderer.invalidate()
        self.image.value = self.renderer.render(foreground)
        self.status.value = "<br>".join(f"<b>{t.label}</b>：{t.status}" for t in self.trajectories)
        self.render_count += 1
        return self.trajectories

    def _line_for(self, label, color):
        if label not in self._lines:
            (line,) = self.ax.plot([], [], "-", color=color, lw=1.6, animated=True)
            (start,) = self.ax.plot([], [], "o", color=color, ms=6, mec="black", animated=True)
            (end,) = self.ax.plot([], [], "s", color=color, ms=5, mec="black", animated=True)
            self._lines[label] = (line, start, end)
        return self._lines[label]


def optimizer_explorer(landscape="beale", names=DEFAULT_NAMES, *, steps=200, resolver=None,
                       show_static=False, **kwargs) -> OptimizerExplorer:  # fmt: skip
    """建一个优化器探索器；在笔记本里把它作为单元格的最后一个表达式即可显示。"""
    return OptimizerExplorer(landscape, names, steps=steps, resolver=resolver,
                             show_static=show_static, **kwargs)  # fmt: skip


# ---- 调度器 ----

# 每个调度器：两个主要参数（名字、最小、最大、默认、是否整数）和由它们构造调度器的函数
SCHEDULERS = {
    "StepLR": (("step_size", 1, 100, 30, True), ("gamma", 0.05, 1.0, 0.5, False),
               lambda S, o, a, b, n, lr: S.StepLR(o, step_size=int(a), gamma=b)),
    "ExponentialLR": (("gamma", 0.8, 1.0, 0.97, False), None,
                      lambda S, o, a, b, n, lr: S.ExponentialLR(o, gamma=a)),
    "CosineAnnealingLR": (("T_max", 1, 500, 100, True), ("eta_min 比例", 0.0, 0.5, 0.0, False),
                          lambda S, o, a, b, n, lr: S.CosineAnnealingLR(o, T_max=int(a), eta_min=b * lr)),
    "CosineAnnealingWarmRestarts": (("T_0", 1, 200, 20, True), ("T_mult", 1, 3, 2, True),
                                    lambda S, o, a, b, n, lr: S.CosineAnnealingWarmRestarts(
                                        o, T_0=int(a), T_mult=int(b))),
    "OneCycleLR": (("pct_start", 0.05, 0.9, 0.3, False), ("div_factor", 2, 100, 25, False),
                   lambda S, o, a, b, n, lr: S.OneCycleLR(o, max_lr=lr, total_steps=n,
                                                          pct_start=a, div_factor=b)),
    "LinearLR": (("start_factor", 0.01, 1.0, 0.1, False), ("total_iters", 1, 500, 50, True),
                 lambda S, o, a, b, n, lr: S.LinearLR(o, start_factor=a, total_iters=int(b))),
    "PolynomialLR": (("total_iters", 1, 500, 100, True), ("power", 0.1, 5.0, 2.0, False),
                     lambda S, o, a, b, n, lr: S.PolynomialLR(o, total_iters=int(a), power=b)),
    "CyclicLR": (("step_size_up", 1, 200, 20, True), ("base_lr 比例", 0.01, 1.0, 0.1, False),
                 lambda S, o, a, b, n, lr: S.CyclicLR(o, base_lr=b * lr, max_lr=lr,
                                                      step_size_up=int(a))),
}  # fmt: skip


def scheduler_module():
    """优先用 ``optlab.lr_scheduler``（尚无该类时退回 torch 的）。"""
    import torch.optim.lr_scheduler as torch_sched

    try:
        from optlab import lr_scheduler as ours
    except ImportError:
        return torch_sched

    class _Either:
        def __getattr__(self, name):
            return getattr(ours, name, None) or getattr(torch_sched, name)

    return _Either()


class SchedulerExplorer(_Explorer):
    """选一个调度器、调两个主要参数，重画学习率曲线（动量被调度时一并画出）。"""

    def __init__(self, scheduler="OneCycleLR", *, steps=200, lr=0.1, module=None,
                 figsize=(6.4, 3.4), dpi=80, show_static=False):  # fmt: skip
        apply_style()
        self.module = module or scheduler_module()
        self.show_static = show_static
        self.render_count = 0
        self.values = {}
        self._web_args = (scheduler, steps, lr)
        style = {"description_width": "90px"}
        self.controls = {
            "scheduler": W.Dropdown(options=list(SCHEDULERS), value=scheduler, description="调度器", style=style),
            "lr": W.FloatLogSlider(value=lr, base=10, min=-4, max=0, description="学习率", style=style),
            "steps": W.IntSlider(value=steps, min=10, max=500, step=10, description="步数", style=style),
            "a": W.FloatSlider(style=style),
            "b": W.FloatSlider(style=style),
        }  # fmt: skip
        self._busy = False
        self._configure(scheduler)
        self.image = W.Image(format="png")
        self.figure, self.ax = new_figure(figsize=figsize, dpi=dpi, managed=False)
        (self.lr_line,) = self.ax.plot([], [], color="#1f77b4", label="学习率")
        self.ax2 = self.ax.twinx()
        (self.mom_line,) = self.ax2.plot([], [], color="#ff7f0e", ls="--", label="动量")
        self.ax.set_xlabel("步数")
        self.ax.set_ylabel("学习率")
        self.ax2.set_ylabel("动量")
        self.ax2.grid(False)
        self.widget = W.VBox([W.HBox([W.VBox(list(self.controls.values()))]), self.image])
        for name, control in self.controls.items():
            control.observe(self._on_scheduler if name == "scheduler" else self._on_change, names="value")
        self.update()

    def _make_web_html(self) -> str:
        from .web import scheduler_explorer_html

        scheduler, steps, lr = self._web_args
        return scheduler_explorer_html(scheduler, steps=steps, lr=lr, module=self.module)

    def _configure(self, name):
        self._busy = True
        try:
            for key, spec in zip("ab", SCHEDULERS[name][:2]):
                s = self.controls[key]
                s.layout.visibility = "visible" if spec else "hidden"
                if spec:
                    label, lo, hi, default, is_int = spec
                    s.min, s.max = -1e9, 1e9
                    s.min, s.max = lo, hi
                    s.step = 1 if is_int else (hi - lo) / 100
                    s.value = default
                    s.description = label
        finally:
            self._busy = False

    def _on_scheduler(self, change):
        self._configure(change["new"])
        self.update()

    def _on_change(self, change):
        if not self._busy:
            self.update()

    def factory(self):
        c = self.controls
        build = SCHEDULERS[c["scheduler"].value][2]
        n, lr = c["steps"].value, c["lr"].value
        return lambda opt: build(self.module, opt, c["a"].value, c["b"].value, n, lr)

    def update(self):
        from .curves import schedule_values

        c = self.controls
        self.values = schedule_values(self.factory(), c["steps"].value, lr=c["lr"].value)
        lrs = self.values["lr"]
        self.lr_line.set_data(range(len(lrs)), lrs)
        moms = self.values.get("momentum", [])
        self.mom_line.set_data(range(len(moms)), moms)
        self.ax2.set_visible(bool(moms))
        self.ax.set_xlim(0, max(len(lrs) - 1, 1))
        self.ax.set_ylim(0, max(lrs) * 1.05 or 1.0)
        if moms:
            self.ax2.set_ylim(min(moms) - 0.02, max(moms) + 0.02)
        self.ax.set_title(c["scheduler"].value)
        self.image.value = figure_png(self.figure)
        self.render_count += 1
        return self.values


def scheduler_explorer(scheduler="OneCycleLR", *, steps=200, lr=0.1, show_static=False, **kwargs):
    """建一个调度器探索器；在笔记本里把它作为单元格的最后一个表达式即可显示。"""
    return SchedulerExplorer(scheduler, steps=steps, lr=lr, show_static=show_static, **kwargs)
