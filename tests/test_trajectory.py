"""轨迹运行器：与手写循环一致、批量与逐个一致、发散处理、LBFGS 闭包、参数检查。"""

import pytest
import torch
import torch.optim

import optlab
from optlab.lab.landscapes import get_landscape
from optlab.lab.trajectory import ELEMENTWISE, PRESETS, run_batch, run_presets, run_trajectory


def cls_of(name):
    """optlab 已实现的类优先，否则用 torch.optim 的。"""
    cls = getattr(optlab, name, None)
    return cls if isinstance(cls, type) else getattr(torch.optim, name)


def hand_loop(land, cls, start, steps, **opts):
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = cls([p], **opts)
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        land(p).backward()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)


@pytest.mark.parametrize(
    ("name", "opts"),
    [("SGD", {"lr": 0.002, "momentum": 0.9}), ("Adam", {"lr": 0.05}), ("RMSprop", {"lr": 0.01}),
     ("Adagrad", {"lr": 0.3}), ("Rprop", {"lr": 0.01}), ("NAdam", {"lr": 0.05})],
)  # fmt: skip
def test_matches_hand_written_loop(name, opts):
    land = get_landscape("beale")
    traj = run_trajectory(land, cls_of(name), steps=60, **opts)
    expected = hand_loop(land, cls_of(name), land.start, 60, **opts)
    assert not traj.diverged
    assert traj.path.shape == (61, 2)
    torch.testing.assert_close(traj.path, expected)
    torch.testing.assert_close(traj.losses, land(expected))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adadelta", "ASGD", "RAdam", "Adamax"])
def test_batched_equals_one_by_one(name):
    assert name in ELEMENTWISE
    starts = [(-1.0, 1.5), (2.0, -1.0), (0.5, 0.5)]
    lrs = [0.003, 0.01]
    batch = run_batch("himmelblau", cls_of(name), starts, lrs=lrs, steps=40)
    assert len(batch) == 6
    for i, traj in enumerate(batch):
        lr, start = lrs[i // 3], starts[i % 3]
        single = run_trajectory("himmelblau", cls_of(name), start, steps=40, lr=lr)
        torch.testing.assert_close(traj.path, single.path)
        assert traj.start == start and traj.options["lr"] == lr


def test_presets_merged_equal_separate_runs():
    names = ["SGD", "动量", "Nesterov", "Adam", "AdamW"]
    merged = run_presets("rosenbrock", names, steps=50, resolver=cls_of)
    for traj in merged:
        preset = PRESETS[traj.label]
        alone = run_trajectory("rosenbrock", cls_of(preset.optimizer), steps=50, **traj.options)
        torch.testing.assert_close(traj.path, alone.path)
        assert traj.color == preset.color


def test_divergence_is_recorded_not_raised():
    traj = run_trajectory("quadratic", cls_of("SGD"), steps=200, lr=5.0)
    assert traj.diverged and traj.diverged_at is not None
    assert 0 < len(traj.path) == traj.diverged_at < 201
    assert torch.isfinite(traj.path).all() and torch.isfinite(traj.losses).all()
    assert "发散" in traj.status and "发散" in repr(traj)
    # 同一批里其它学习率不受影响
    ok, bad = run_batch("quadratic", cls_of("SGD"), lrs=[0.1, 5.0], steps=100)
    assert not ok.diverged and bad.diverged


def test_lbfgs_uses_closure_one_point_per_step():
    traj = run_trajectory("rosenbrock", cls_of("LBFGS"), steps=15, lr=1, line_search_fn="strong_wolfe")
    assert traj.path.shape == (16, 2)
    torch.testing.assert_close(traj.path[-1], torch.tensor([1.0, 1.0], dtype=torch.float64), atol=1e-4, rtol=0)
    expected = hand_loop_closure(get_landscape("rosenbrock"), 15)
    torch.testing.assert_close(traj.path, expected)


def hand_loop_closure(land, steps):
    p = torch.tensor(land.start, dtype=torch.float64, requires_grad=True)
    opt = cls_of("LBFGS")([p], lr=1, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = land(p)
        loss.backward()
        return loss

    path = [p.detach().clone()]
    for _ in range(steps):
        opt.step(closure)
        path.append(p.detach().clone())
    return torch.stack(path)


def test_non_elementwise_optimizers_loop():
    for name, opts in [("Adafactor", {"lr": 0.05}), ("Muon", {"lr": 0.05, "weight_decay": 0.0})]:
        trajs = run_batch("quadratic", cls_of(name), [(-5.0, -2.0), (3.0, 1.0)], steps=20, **opts)
        assert [t.path.shape for t in trajs] == [(21, 2), (21, 2)]
        assert all(float(t.losses[-1]) < float(t.losses[0]) for t in trajs)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: run_trajectory("nope", cls_of("SGD"), lr=0.1), "未知的地形"),
        (lambda: run_trajectory("quadratic", "NoSuchOptimizer", lr=0.1), "没有名为"),
        (lambda: run_trajectory("quadratic", cls_of("SGD"), (100.0, 0.0), lr=0.1), "不在"),
        (lambda: run_trajectory("quadratic", cls_of("SGD"), lr=0.0), "学习率必须为正数"),
        (lambda: run_batch("quadratic", cls_of("SGD"), lrs=[0.1, -1.0]), "学习率必须为正数"),
        (lambda: run_trajectory("quadratic", cls_of("SparseAdam"), lr=0.1), "稀疏梯度"),
        (lambda: run_presets("quadratic", ["不存在"]), "未知的预设"),
    ],
)
def test_bad_input_raises_value_error_in_chinese(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_name_string_resolves_against_optlab():
    traj = run_trajectory("quadratic", "SGD", steps=5, lr=0.1)
    assert traj.optimizer == "SGD" and traj.path.shape == (6, 2)
