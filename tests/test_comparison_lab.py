"""比较一章的实验工具：学习率调优、发散标记的位置、动画的取帧、Beale 的等高线、颜色。"""

import matplotlib

matplotlib.use("Agg")

import math

import matplotlib.pyplot as plt
import pytest
import torch

from optlab.lab import digits
from optlab.lab.landscapes import get_landscape
from optlab.lab.trajectory import run_batch, run_presets, run_trajectory
from optlab.lab.tuning import (
    DIGITS_ENTRIES,
    RaceEntry,
    _averaged,
    digits_race,
    first_below,
    settle_step,
    tune_presets,
)
from optlab.lab.viz import color_for, plot_contour
from optlab.lab.viz.animation import frame_steps
from optlab.lab.viz.contour import divergence_point


def test_settle_step_ignores_passing_through():
    traj = run_trajectory("quadratic", "SGD", steps=5, lr=0.1)
    traj.losses = torch.tensor([5.0, 1e-3, 5.0, 1e-3, 1e-3, 1e-3], dtype=torch.float64)
    assert first_below(traj) == 1
    assert settle_step(traj) == 3
    traj.losses[-1] = 1.0
    assert settle_step(traj) is None


def test_tune_presets_picks_the_best_scale_by_the_stated_criterion():
    scales = (0.5, 1.0, 2.0)
    tuned = tune_presets("beale", ["SGD", "Adam"], scales, steps=300)
    for r in tuned:
        assert len(r.runs) == 3 and r.best.label == r.label
        # 与单独运行每个学习率的结果一致
        alone = run_presets("beale", [r.label], steps=300, lr_scale=r.best_scale)[0]
        torch.testing.assert_close(alone.path, r.best.path)
        key = [(settle_step(t) is None, settle_step(t) or float(t.losses[-1])) for t in r.runs]
        assert r.best_index == min(range(3), key=lambda i: key[i])
    # Beale 上 SGD 的预设学习率 ×2 已经比 ×1 好：调优不是摆设
    sgd = tuned[0]
    assert sgd.best_scale == 2.0 and settle_step(sgd.best) < settle_step(sgd.runs[1])


def test_distance_criterion():
    tuned = tune_presets("rosenbrock", ["SGD"], (0.5, 1.0, 2.0), steps=200, criterion="distance")[0]
    dists = [math.dist(t.end, (1.0, 1.0)) for t in tuned.runs]
    assert tuned.best_index == dists.index(min(dists))
    with pytest.raises(ValueError, match="准则"):
        tune_presets("beale", ["SGD"], (1.0,), steps=5, criterion="nope")


def test_divergence_mark_is_on_the_window_edge():
    land = get_landscape("beale")
    traj = run_trajectory(land, "SGD", steps=50, lr=0.2, label="SGD 过大")
    assert traj.diverged
    x, y = divergence_point(traj.path.numpy(), land.xlim, land.ylim)
    assert land.xlim[0] - 1e-9 <= x <= land.xlim[1] + 1e-9 and land.ylim[0] - 1e-9 <= y <= land.ylim[1] + 1e-9
    on_edge = min(abs(x - land.xlim[0]), abs(x - land.xlim[1]), abs(y - land.ylim[0]), abs(y - land.ylim[1]))
    assert on_edge < 1e-9
    fig = plot_contour(land, [traj], n=30)
    try:
        ax = fig.axes[0]
        marks = [ln for ln in ax.lines if ln.get_marker() == "X" and len(ln.get_xdata())]
        assert len(marks) == 1
        assert (float(marks[0].get_xdata()[0]), float(marks[0].get_ydata()[0])) == pytest.approx((x, y))
        assert any("SGD 过大 发散" in t.get_text() for t in ax.texts)
    finally:
        plt.close(fig)


def test_frame_steps_spacing():
    path = torch.zeros(301, 2)
    path[1:, 0] = torch.linspace(0, 1, 300) ** 0.1  # 前几步走得远，后面几乎不动
    lin = frame_steps([path], 30, "linear")
    log = frame_steps([path], 30, "log")
    length = frame_steps([path], 30, "length")
    for steps in (lin, log, length):
        assert steps[0] >= 1 and steps[-1] == 301 and steps == sorted(steps)
    # 对数时间与按路程取帧都把更多的帧放在前 30 步
    early = lambda s: sum(k <= 30 for k in s)
    assert early(lin) <= 3 < early(log) and early(lin) < early(length)
    assert len(set(log)) == len(log), "对数时间的帧不应重复"
    with pytest.raises(ValueError):
        frame_steps([path], 5, "nope")


def test_beale_window_and_levels_show_the_valley():
    land = get_landscape("beale")
    assert land.xlim == (-0.5, 3.7) and land.ylim == (-1.3, 1.9)
    Z = land.grid(120)[2]
    levels = land.contour_levels(Z, 25)
    assert levels[0] == pytest.approx(1e-3)
    # 默认起点的轨迹要好几十步后才落到最低一条等高线以下（原来 1–8 步就低于最低线）
    traj = run_presets(land, ["Adam"], steps=300)[0]
    below = first_below(traj, levels[0])
    assert below is None or below > 50


def test_colours_are_fixed_for_every_race_entry():
    colors = [color_for(e.label, i) for i, e in enumerate(DIGITS_ENTRIES)]
    assert colors == [color_for(e.label) for e in DIGITS_ENTRIES]
    assert len(set(colors)) == len(colors)


def test_digits_race_seeds_lrs_asgd_average_and_muon():
    data = digits.load_digits_data(seed=0)
    entries = [
        RaceEntry("ASGD", "ASGD", {"t0": 3}, (0.3,)),
        RaceEntry("Muon", "Muon", {}, (0.01, 0.03)),
    ]
    race = digits_race(entries, data, seeds=(0, 1), epochs=1)
    assert race.steps == 9  # 1078 张训练图、每批 128 张
    assert len(race.runs[1]) == 2 and len(race.runs[1][0]) == 2
    assert 0 <= race.best_index(1) < 2
    mean, std = race.test_stats(1)
    assert 0.0 < mean <= 1.0 and std >= 0.0
    assert race.runs[0][0][0].final_val > 0.5
    # 每个网格 5 档、相邻两档相差 √10 倍
    for e in DIGITS_ENTRIES:
        assert len(e.lrs) == 5
        ratios = [b / a for a, b in zip(e.lrs, e.lrs[1:])]
        assert all(abs(r - math.sqrt(10)) < 0.02 for r in ratios), e


def test_asgd_is_evaluated_with_its_average():
    model = digits.make_model(seed=0)
    (opt,) = RaceEntry("ASGD", "ASGD", {"t0": 2}, (0.1,)).build(model, 0.1)
    for _ in range(5):
        opt.zero_grad()
        model(torch.randn(4, 64, dtype=torch.float64)).sum().backward()
        opt.step()
    before = [p.detach().clone() for p in model.parameters()]
    with _averaged([opt]):
        for p in model.parameters():
            torch.testing.assert_close(p.detach(), opt.state[p]["ax"])
        assert any(not torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before))
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p.detach(), b)


def test_muon_gets_matrices_and_adamw_the_rest():
    model = digits.make_model(seed=0)
    muon, adamw = RaceEntry("Muon", "Muon", {}, (0.02,)).build(model, 0.02)
    assert all(p.ndim == 2 for g in muon.param_groups for p in g["params"])
    assert all(p.ndim == 1 for g in adamw.param_groups for p in g["params"])
    assert adamw.param_groups[0]["lr"] == muon.param_groups[0]["lr"] == 0.02


def test_run_batch_labels_untouched_by_tuning():
    runs = run_batch("beale", "SGD", lrs=[0.01, 0.02], steps=3)
    assert [t.label for t in runs] == ["SGD lr=0.01", "SGD lr=0.02"]
