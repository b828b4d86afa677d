"""坏输入抛与 torch 相同类型的异常；调用顺序等警告与 torch 一致。"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.optim.lr_scheduler as torch_sched
from lr_scheduler_cases import CASES, REFERENCE, StandInOptimizer, torch_adam, torch_sgd

import optlab.lr_scheduler as ours_sched


def _other_optimizer_scheduler(m, o):
    return m.StepLR(torch_sgd(), 3)


# 每项：构造函数(调度器模块, 优化器)；torch 必须对它抛异常
BAD_INPUTS = {
    "not-an-optimizer": lambda m, o: m.StepLR(object(), 3),
    "plateau-not-an-optimizer": lambda m, o: m.ReduceLROnPlateau(object()),
    "lambda-wrong-count": lambda m, o: m.LambdaLR(o, [lambda e: 1.0]),
    "multiplicative-wrong-count": lambda m, o: m.MultiplicativeLR(o, [lambda e: 1.0] * 3),
    "constant-factor>1": lambda m, o: m.ConstantLR(o, factor=1.5),
    "constant-factor<0": lambda m, o: m.ConstantLR(o, factor=-0.1),
    "linear-start=0": lambda m, o: m.LinearLR(o, start_factor=0.0),
    "linear-start>1": lambda m, o: m.LinearLR(o, start_factor=1.2),
    "linear-end>1": lambda m, o: m.LinearLR(o, end_factor=1.5),
    "linear-end<0": lambda m, o: m.LinearLR(o, end_factor=-0.5),
    "resume-without-initial_lr": lambda m, o: m.ExponentialLR(o, 0.9, last_epoch=4),
    "warm-T0=0": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=0),
    "warm-T0-float": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2.5),
    "warm-Tmult=0": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=0),
    "warm-Tmult-float": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=1.5),
    "warm-eta_min-str": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, eta_min="0"),
    "warm-negative-epoch": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3).step(-1),
    "cyclic-bad-mode": lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="square"),
    "cyclic-base_lr-list": lambda m, o: m.CyclicLR(o, [0.01], 0.1),
    "cyclic-max_lr-list": lambda m, o: m.CyclicLR(o, 0.01, [0.1, 0.2, 0.3]),
    "cyclic-momentum-list": lambda m, o: m.CyclicLR(o, 0.01, 0.1, base_momentum=[0.8]),
    "cyclic-no-momentum-support": lambda m, o: m.CyclicLR(
        torch.optim.Adagrad(o.param_groups[0]["params"]), 0.01, 0.1
    ),
    "onecycle-no-length": lambda m, o: m.OneCycleLR(o, 0.1),
    "onecycle-only-epochs": lambda m, o: m.OneCycleLR(o, 0.1, epochs=3),
    "onecycle-total=0": lambda m, o: m.OneCycleLR(o, 0.1, total_steps=0),
    "onecycle-total-float": lambda m, o: m.OneCycleLR(o, 0.1, total_steps=10.0),
    "onecycle-epochs=0": lambda m, o: m.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3),
    "onecycle-steps_per_epoch<0": lambda m, o: m.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=-3),
    "onecycle-pct>1": lambda m, o: m.OneCycleLR(o, 0.1, 10, pct_start=1.5),
    "onecycle-pct<0": lambda m, o: m.OneCycleLR(o, 0.1, 10, pct_start=-0.1),
    "onecycle-pct-int": lambda m, o: m.OneCycleLR(o, 0.1, 10, pct_start=0),
    "onecycle-bad-anneal": lambda m, o: m.OneCycleLR(o, 0.1, 10, anneal_strategy="step"),
    "onecycle-max_lr-list": lambda m, o: m.OneCycleLR(o, [0.1], 10),
    "onecycle-momentum-list": lambda m, o: m.OneCycleLR(o, 0.1, 10, max_momentum=[0.9] * 3),
    "onecycle-no-momentum-support": lambda m, o: m.OneCycleLR(
        torch.optim.Adagrad(o.param_groups[0]["params"]), 0.1, 10
    ),
    "onecycle-past-the-end": lambda m, o: _step_times(m.OneCycleLR(o, 0.1, 3), 4),
    "sequential-empty": lambda m, o: m.SequentialLR(o, [], []),
    "sequential-not-scheduler": lambda m, o: m.SequentialLR(o, [m.StepLR(o, 2), 3], [2]),
    "sequential-plateau": lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, 2), m.ReduceLROnPlateau(o)], [2]
    ),
    "sequential-other-optimizer": lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, 2), _other_optimizer_scheduler(m, o)], [2]
    ),
    "sequential-too-many-milestones": lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, 2), m.ExponentialLR(o, 0.9)], [2, 5]
    ),
    "sequential-too-few-milestones": lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, 2), m.ExponentialLR(o, 0.9)], []
    ),
    "chained-empty": lambda m, o: m.ChainedScheduler([]),
    "chained-not-scheduler": lambda m, o: m.ChainedScheduler([m.StepLR(o, 2), "x"]),
    "chained-plateau": lambda m, o: m.ChainedScheduler([m.StepLR(o, 2), m.ReduceLROnPlateau(o)]),
    "chained-different-optimizers": lambda m, o: m.ChainedScheduler(
        [m.StepLR(o, 2), _other_optimizer_scheduler(m, o)]
    ),
    "chained-optimizer-mismatch": lambda m, o: m.ChainedScheduler([m.StepLR(o, 2)], torch_sgd()),
    "plateau-bad-mode": lambda m, o: m.ReduceLROnPlateau(o, mode="lowest"),
    "plateau-bad-threshold_mode": lambda m, o: m.ReduceLROnPlateau(o, threshold_mode="pct"),
    "plateau-factor=1": lambda m, o: m.ReduceLROnPlateau(o, factor=1.0),
    "plateau-factor>1": lambda m, o: m.ReduceLROnPlateau(o, factor=3.0),
    "plateau-min_lr-list": lambda m, o: m.ReduceLROnPlateau(o, min_lr=[0.1, 0.2, 0.3]),
    "plateau-new-group-with-min_lr-list": lambda m, o: _plateau_after_new_group(m, o),
    "plateau-metric-not-number": lambda m, o: m.ReduceLROnPlateau(o).step("low"),
}


def _step_times(scheduler, times):
    for _ in range(times):
        scheduler.step()


def _plateau_after_new_group(m, o):
    scheduler = m.ReduceLROnPlateau(o, patience=0, min_lr=[0.0, 0.0])
    o.add_param_group({"params": [], "lr": 0.2})
    for value in (1.0, 2.0, 3.0):
        scheduler.step(value)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_same_type_as_torch(case):
    types = []
    for module in (torch_sched, ours_sched):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(Exception) as info:
                BAD_INPUTS[case](module, torch_sgd())
        types.append(info.type)
    assert types[1] is types[0], f"torch: {types[0].__name__}, optlab: {types[1].__name__}"


def test_stand_in_is_accepted():
    """只借用 torch.optim.Optimizer 类型、只有 param_groups 的替身也能被调度；别的对象抛 TypeError。"""
    optimizer = StandInOptimizer([{"params": [], "lr": 0.1}], {"lr": 0.1, "momentum": 0.9})
    scheduler = ours_sched.StepLR(optimizer, 1, gamma=0.5)
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 0.05
    for module in (torch_sched, ours_sched):
        with pytest.raises(TypeError, match="is not an Optimizer"):
            module.StepLR(object(), 1)


def _warning_messages(module, scenario) -> list[tuple[type, str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scenario(module)
    return [(w.category, str(w.message)) for w in caught]


def _scheduler_first(m):
    optimizer = torch_sgd()
    scheduler = m.StepLR(optimizer, 2)
    scheduler.step()
    optimizer.step()


def _right_order(m):
    optimizer = torch_adam()
    scheduler = m.CosineAnnealingLR(optimizer, 10)
    for _ in range(5):
        optimizer.step()
        scheduler.step()


def _overridden(m):
    optimizer = torch_sgd()
    scheduler = m.ExponentialLR(optimizer, 0.9)
    optimizer.step = lambda closure=None: None
    optimizer.step()
    scheduler.step()


def _get_lr_outside_step(m):
    optimizer = torch_sgd()
    scheduler = m.LinearLR(optimizer)
    optimizer.step()
    scheduler.step()
    scheduler.get_lr()


def _two_schedulers_right_order(m):
    optimizer = torch_sgd()
    first, second = m.ExponentialLR(optimizer, 0.9), m.StepLR(optimizer, 3)
    for _ in range(4):
        optimizer.step()
        first.step()
        second.step()


def _sequential_and_chained(m):
    optimizer = torch_sgd()
    seq = m.SequentialLR(optimizer, [m.ConstantLR(optimizer), m.ExponentialLR(optimizer, 0.9)], [3])
    for _ in range(6):
        optimizer.step()
        seq.step()


def _plateau_epoch(m):
    optimizer = torch_sgd()
    scheduler = m.ReduceLROnPlateau(optimizer)
    scheduler.step(1.0, epoch=3)


WARNING_SCENARIOS = {
    "scheduler-before-optimizer": (_scheduler_first, 1),
    "right-order": (_right_order, 0),
    "optimizer-step-overridden": (_overridden, 1),
    "get_lr-outside-step": (_get_lr_outside_step, 1),
    "two-schedulers-right-order": (_two_schedulers_right_order, 0),
    "sequential-right-order": (_sequential_and_chained, 0),
    "plateau-epoch": (_plateau_epoch, 1),
}


@pytest.mark.parametrize("case", sorted(WARNING_SCENARIOS))
def test_warnings_match_torch(case):
    scenario, count = WARNING_SCENARIOS[case]
    expected = _warning_messages(torch_sched, scenario)
    assert len(expected) == count
    assert _warning_messages(ours_sched, scenario) == expected


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_call_order_warning_with_optlab_optimizers(name):
    """我们的计数包装对 optlab 的优化器同样有效：错序警告、正序不警告。"""
    import optlab

    if not hasattr(optlab, name):
        pytest.fail(f"optlab.{name} 尚不存在")

    def make():
        return getattr(optlab, name)(REFERENCE["momentum"]().param_groups[0]["params"], lr=0.1)

    def wrong(m):
        optimizer = make()
        scheduler = m.StepLR(optimizer, 2)
        scheduler.step()

    def right(m):
        optimizer = make()
        scheduler = m.StepLR(optimizer, 2)
        optimizer.step()
        scheduler.step()

    wrong_msgs = _warning_messages(ours_sched, wrong)
    assert [c for c, _ in wrong_msgs] == [UserWarning]
    assert "before `optimizer.step()`" in wrong_msgs[0][1]
    assert _warning_messages(ours_sched, right) == []


# 组合调度器没有自己的 get_lr（与 torch 相同），不在此列
OWN_GET_LR = sorted(c for c in CASES if not c.startswith(("SequentialLR", "ChainedScheduler")))


@pytest.mark.parametrize("case", OWN_GET_LR)
def test_get_lr_outside_step_warns_at_the_callers_line(case):
    """每个调度器在 step 外调用 get_lr 都提醒一次，且警告指向调用 get_lr 的那一行（本文件）。"""
    scheduler = CASES[case](ours_sched, torch_sgd())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scheduler.get_lr()
    assert [str(w.message) for w in caught] == [
        "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."
    ]
    assert caught[0].filename == __file__
