"""绘图函数：都能画出来、返回 Figure、没有缺字警告；动画 HTML 两次运行逐字节相同。"""

import io
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch.optim
from matplotlib.figure import Figure

import optlab
from optlab.lab import viz
from optlab.lab.trajectory import run_presets, run_trajectory


def cls_of(name):
    cls = getattr(optlab, name, None)
    return cls if isinstance(cls, type) else getattr(torch.optim, name)


def render_without_missing_glyphs(fig):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png", dpi=50)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing
    plt.close(fig)


@pytest.fixture(scope="module")
def trajs():
    return run_presets("beale", ["SGD", "动量", "Adam", "RMSprop"], steps=40, resolver=cls_of)


def test_contour(trajs):
    diverged = run_trajectory("beale", cls_of("SGD"), steps=40, lr=5.0, label="SGD 过大")
    fig = viz.plot_contour("beale", [*trajs, diverged], n=40)
    assert isinstance(fig, Figure)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "极小值" in labels and "Adam" in labels and "SGD 过大（发散）" in labels
    render_without_missing_glyphs(fig)


def test_surface_losses_saddle_grid(trajs):
    for fig in (
        viz.plot_surface("rosenbrock", trajs[:1], n=20),
        viz.plot_losses(trajs),
        viz.plot_saddle_escape(steps=40, resolver=cls_of),
        viz.plot_lr_grid("quadratic", ["SGD", "Adam"], (0.5, 2.0), steps=20, resolver=cls_of),
    ):
        assert isinstance(fig, Figure)
        render_without_missing_glyphs(fig)


def test_saddle_lesson_adaptive_escapes_sgd_stays():
    esc = {t.label: t for t in run_presets("saddle", ["SGD", "Adam"], start=(-1.5, 1e-3), steps=100,
                                            resolver=cls_of)}  # fmt: skip
    assert abs(float(esc["SGD"].path[-1, 1])) < 0.1
    assert abs(float(esc["Adam"].path[-1, 1])) > 1.0


def scheduler_modules():
    """torch 的调度器总要测；optlab.lr_scheduler 已有这两个类时也测。"""
    mods = [torch.optim.lr_scheduler]
    try:
        from optlab import lr_scheduler
    except ImportError:
        return mods
    if hasattr(lr_scheduler, "OneCycleLR") and hasattr(lr_scheduler, "StepLR"):
        mods.append(lr_scheduler)
    return mods


@pytest.mark.parametrize("mod", scheduler_modules(), ids=lambda m: m.__name__)
def test_schedule_curve(mod):
    values = viz.schedule_values(lambda o: mod.OneCycleLR(o, max_lr=0.1, total_steps=50), 50)
    assert max(values["lr"]) == pytest.approx(0.1, rel=1e-3)
    assert values["lr"][0] < 0.01 and "momentum" in values
    fig = viz.plot_schedule(lambda o: mod.StepLR(o, step_size=10, gamma=0.5), 30, label="StepLR")
    assert isinstance(fig, Figure)
    render_without_missing_glyphs(fig)


def test_animation_is_deterministic_and_small(trajs):
    a = viz.animate_trajectories("beale", trajs, frames=6).data
    b = viz.animate_trajectories("beale", trajs, frames=6).data
    assert a == b
    assert len(a) < 1_000_000
    assert "data:image/jpeg" in a
    # 不应残留 matplotlib 随机生成的 uuid4 id
    ids = set(re.findall(r"[0-9a-f]{32}", a))
    assert ids and all(i[24:].startswith("0000") for i in ids)
    assert viz.stable_jshtml(a) == a
    # 离线：不引用任何网络资源，播放按钮用普通字符
    assert "http://" not in a and "https://" not in a
    assert "fa fa-" not in a and "▶" in a
