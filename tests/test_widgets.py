"""控件：无界面构建，改滑块后数据和图像都会变化。"""

import matplotlib

matplotlib.use("Agg")

import torch.optim

import optlab
from optlab.lab.viz.widgets import optimizer_explorer, scheduler_explorer


def cls_of(name):
    cls = getattr(optlab, name, None)
    return cls if isinstance(cls, type) else getattr(torch.optim, name)


def test_optimizer_explorer_reacts_to_controls():
    e = optimizer_explorer("quadratic", ["SGD", "动量", "Adam"], steps=30, resolver=cls_of)
    c = e.controls
    assert e.render_count == 1 and len(e.trajectories) == 3
    png, ends = e.image.value, [t.end for t in e.trajectories]
    assert bytes(png).startswith(b"\x89PNG")

    c["lr_scale"].value = 0.1
    assert e.render_count == 2 and e.image.value != png
    assert [t.end for t in e.trajectories] != ends

    c["momentum"].value = 0.5
    assert e.trajectories[1].options["momentum"] == 0.5
    c["beta1"].value = 0.5
    assert e.trajectories[2].options["betas"][0] == 0.5

    c["optimizers"].value = ("Adam",)
    assert [t.label for t in e.trajectories] == ["Adam"]

    c["steps"].value = 20
    assert e.trajectories[0].path.shape == (21, 2)

    c["x0"].value = 3.0
    assert e.trajectories[0].start[0] == 3.0

    count = e.render_count
    c["landscape"].value = "rosenbrock"
    assert e.render_count == count + 1  # 换地形只重算一次
    assert e.trajectories[0].landscape == "rosenbrock"
    assert e.trajectories[0].start == (-1.5, 2.5)

    c["optimizers"].value = ("SGD",)
    c["lr_scale"].value = 100.0
    assert e.trajectories[0].diverged and "发散" in e.status.value


def test_scheduler_explorer_reacts_to_controls():
    s = scheduler_explorer("StepLR", steps=40, lr=0.1)
    first = list(s.values["lr"])
    png = s.image.value
    s.controls["b"].value = 0.1  # gamma
    assert s.values["lr"] != first and s.image.value != png
    for name in ["ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "CyclicLR",
                 "CosineAnnealingWarmRestarts", "LinearLR", "PolynomialLR"]:  # fmt: skip
        s.controls["scheduler"].value = name
        assert len(s.values["lr"]) == 40
    s.controls["scheduler"].value = "OneCycleLR"
    assert "momentum" in s.values


def test_static_figure():
    e = optimizer_explorer("quadratic", ["SGD"], steps=10, resolver=cls_of)
    fig = e.static_figure()
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure

    # 笔记本的内联后端用 print_figure 出图：没有坐标轴的图它直接返回 None，只剩一行文字
    png = print_figure(fig, "png", bbox_inches="tight")
    plt.close(fig)
    assert png and len(png) > 1000


def test_divergence_mark_stays_inside_the_window():
    """发散的轨迹：✕ 画在轨迹离开窗口的地方，而不是窗口外几万倍远的最后一点。"""
    e = optimizer_explorer("beale", ["SGD"], steps=50, resolver=cls_of)
    e.controls["lr_scale"].value = 100.0
    (traj,) = e.trajectories
    assert traj.diverged
    _, _, end = e._lines[traj.label]
    (x,), (y,) = end.get_data()
    (x0, x1), (y0, y1) = e.ax.get_xlim(), e.ax.get_ylim()
    assert x0 - 1e-9 <= x <= x1 + 1e-9 and y0 - 1e-9 <= y <= y1 + 1e-9
    assert end.get_marker() == "X"
