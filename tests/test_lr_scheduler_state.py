"""调度器的检查点、恢复、互相加载 state_dict、last_epoch 恢复与调用顺序警告。"""

from __future__ import annotations

import copy

import pytest
import torch.optim.lr_scheduler as torch_sched
from lr_scheduler_cases import CASES, REFERENCE, STATEFUL_FACTORIES, Halving

import optlab.lr_scheduler as ours_sched

TOTAL, CUT = 110, 47


def lrs_of(optimizer) -> list:
    return [
        (g["lr"], g["betas"][0] if "betas" in g else g.get("momentum"))
        for g in optimizer.param_groups
    ]


def drive(optimizer, scheduler, steps) -> list:
    out = []
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        out.append(lrs_of(optimizer))
    return out


RESUME_CASES = sorted(CASES)


@pytest.mark.parametrize("factory", STATEFUL_FACTORIES, ids=[f[0] for f in STATEFUL_FACTORIES])
@pytest.mark.parametrize("case", RESUME_CASES)
def test_checkpoint_resume_on_fresh_objects(case, factory):
    """中途保存优化器与调度器，换新对象加载后继续，与不中断的一次运行完全相同。"""
    _, family, make_optimizer = factory
    reference_opt = REFERENCE[family]()
    expected = drive(reference_opt, CASES[case](torch_sched, reference_opt), TOTAL)

    optimizer = make_optimizer()
    scheduler = CASES[case](ours_sched, optimizer)
    first = drive(optimizer, scheduler, CUT)
    opt_state = copy.deepcopy(optimizer.state_dict())
    sched_state = copy.deepcopy(scheduler.state_dict())
    del optimizer, scheduler

    fresh_opt = make_optimizer()
    fresh_sched = CASES[case](ours_sched, fresh_opt)  # 先建调度器，再加载优化器状态
    fresh_opt.load_state_dict(opt_state)
    fresh_sched.load_state_dict(sched_state)
    assert first + drive(fresh_opt, fresh_sched, TOTAL - CUT) == expected


@pytest.mark.parametrize("direction", ["optlab->torch", "torch->optlab"])
@pytest.mark.parametrize("case", RESUME_CASES)
def test_state_dict_interchangeable_with_torch(case, direction):
    """同类调度器的 state_dict 键相同，且能在 optlab 与 torch 之间互相加载。"""
    src_mod, dst_mod = (
        (ours_sched, torch_sched) if direction == "optlab->torch" else (torch_sched, ours_sched)
    )
    reference_opt = REFERENCE["momentum"]()
    expected = drive(reference_opt, CASES[case](torch_sched, reference_opt), TOTAL)

    optimizer = REFERENCE["momentum"]()
    scheduler = CASES[case](src_mod, optimizer)
    first = drive(optimizer, scheduler, CUT)
    state = copy.deepcopy(scheduler.state_dict())

    fresh_opt = REFERENCE["momentum"]()
    fresh_sched = CASES[case](dst_mod, fresh_opt)
    assert state_keys(state) == state_keys(fresh_sched.state_dict())
    fresh_opt.load_state_dict(optimizer.state_dict())
    fresh_sched.load_state_dict(state)
    assert first + drive(fresh_opt, fresh_sched, TOTAL - CUT) == expected


def state_keys(state):
    """键的结构（含嵌套调度器）。"""
    keys = sorted(state)
    nested = [state_keys(s) for s in state.get("_schedulers", [])]
    return keys, nested


def test_state_dict_values_match_torch():
    for case in RESUME_CASES:
        theirs = CASES[case](torch_sched, REFERENCE["momentum"]())
        ours = CASES[case](ours_sched, REFERENCE["momentum"]())
        assert ours.state_dict() == theirs.state_dict(), case


def test_lambda_state_saves_only_callable_objects():
    results = {}
    for name, module in (("torch", torch_sched), ("ours", ours_sched)):
        optimizer = REFERENCE["momentum"]()
        scheduler = module.LambdaLR(optimizer, [lambda e: 1.0, Halving(0.5)])
        state = scheduler.state_dict()
        fresh = module.LambdaLR(REFERENCE["momentum"](), [lambda e: 1.0, Halving(0.9)])
        fresh.load_state_dict(state)
        results[name] = (state["lr_lambdas"], fresh.lr_lambdas[1].rate, "lr_lambdas" in state)
    assert results["ours"] == results["torch"]
    assert results["ours"][0] == [None, {"rate": 0.5}]


def test_reduce_on_plateau_checkpoint_and_interchange():
    metrics = [1.0 / (1 + i % 13) + (0.5 if i % 29 > 20 else 0.0) for i in range(150)]

    def make(module, optimizer):
        return module.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=3, cooldown=2, min_lr=[1e-3, 1e-4]
        )

    def go(optimizer, scheduler, values):
        out = []
        for value in values:
            optimizer.step()
            scheduler.step(value)
            out.append([g["lr"] for g in optimizer.param_groups])
        return out

    opt = REFERENCE["momentum"]()
    expected = go(opt, make(torch_sched, opt), metrics)
    for src, dst in [
        (ours_sched, ours_sched),
        (ours_sched, torch_sched),
        (torch_sched, ours_sched),
    ]:
        opt = REFERENCE["momentum"]()
        sched = make(src, opt)
        first = go(opt, sched, metrics[:70])
        state = copy.deepcopy(sched.state_dict())
        fresh_opt = REFERENCE["momentum"]()
        fresh = make(dst, fresh_opt)
        assert sorted(state) == sorted(fresh.state_dict())
        fresh_opt.load_state_dict(opt.state_dict())
        fresh.load_state_dict(state)
        assert first + go(fresh_opt, fresh, metrics[70:]) == expected


RESUMABLE = {
    "LambdaLR": lambda m, o, e: m.LambdaLR(o, lambda k: 0.95**k, last_epoch=e),
    "MultiplicativeLR": lambda m, o, e: m.MultiplicativeLR(o, lambda k: 0.97, last_epoch=e),
    "StepLR": lambda m, o, e: m.StepLR(o, 3, 0.5, last_epoch=e),
    "MultiStepLR": lambda m, o, e: m.MultiStepLR(o, [4, 10, 10, 30], 0.3, last_epoch=e),
    "ConstantLR": lambda m, o, e: m.ConstantLR(o, 0.25, 13, last_epoch=e),
    "LinearLR": lambda m, o, e: m.LinearLR(o, 0.1, 0.9, 14, last_epoch=e),
    "ExponentialLR": lambda m, o, e: m.ExponentialLR(o, 0.96, last_epoch=e),
    "PolynomialLR": lambda m, o, e: m.PolynomialLR(o, 20, 2.0, last_epoch=e),
    "CosineAnnealingLR": lambda m, o, e: m.CosineAnnealingLR(o, 12, 0.001, last_epoch=e),
    "WarmRestarts": lambda m, o, e: m.CosineAnnealingWarmRestarts(o, 5, 2, last_epoch=e),
    "CyclicLR": lambda m, o, e: m.CyclicLR(
        o, 0.01, 0.3, 4, mode="exp_range", gamma=0.99, last_epoch=e
    ),
    "OneCycleLR": lambda m, o, e: m.OneCycleLR(o, 0.4, 80, three_phase=True, last_epoch=e),
}


@pytest.mark.parametrize("case", sorted(RESUMABLE))
@pytest.mark.parametrize("last_epoch", [0, 3, 9, 13, 29])
def test_resume_with_last_epoch_matches_torch(case, last_epoch):
    """以 ``last_epoch != -1`` 构造（从检查点恢复），初始步与后续步都与 torch 一致。"""

    def go(module):
        optimizer = REFERENCE["momentum"]()
        RESUMABLE[case](module, optimizer, -1)  # 先正常建一次，参数组里才有 initial_lr 等键
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * 0.7  # 与 initial_lr 不同，才能分辨链式与闭式
        scheduler = RESUMABLE[case](module, optimizer, last_epoch)
        return [lrs_of(optimizer)] + drive(optimizer, scheduler, 40)

    assert go(ours_sched) == go(torch_sched)


@pytest.mark.parametrize("case", sorted(RESUMABLE))
def test_resume_without_initial_lr_raises_like_torch(case):
    errors = []
    for module in (torch_sched, ours_sched):
        with pytest.raises(Exception) as info:
            RESUMABLE[case](module, REFERENCE["momentum"](), 5)
        errors.append(info.type)
    assert errors[0] is errors[1]
    if case not in ("OneCycleLR", "CyclicLR"):
        assert errors[1] is KeyError


@pytest.mark.parametrize("case", RESUME_CASES)
def test_load_state_dict_leaves_the_given_dict_as_it_was(case):
    """载入不改动调用者的字典（内容与键的顺序）；载入后再保存得到同样的内容，键的顺序与 torch 相同。

    torch 2.13 的 CyclicLR.load_state_dict 会从调用者的字典里删掉 ``_scale_fn_custom``
    （其余调度器都按 pytorch/pytorch#32756 放回了），optlab 一律放回。
    """
    keys = {}
    for name, module in (("torch", torch_sched), ("ours", ours_sched)):
        source = CASES[case](module, REFERENCE["momentum"]())
        drive(source.optimizer, source, 5)
        state = source.state_dict()
        before = copy.deepcopy(state)
        target = CASES[case](module, REFERENCE["momentum"]())
        target.load_state_dict(state)
        if name == "ours":
            assert state == before and list(state) == list(before)
        assert target.state_dict() == before, name
        keys[name] = list(target.state_dict())
    assert keys["ours"] == keys["torch"]
