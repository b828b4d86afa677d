"""与 torch 2.13 的差分测试：学习率调度器与 SWA 工具。

固定场景（SequentialLR 的 milestones=[0]、构造后 add_param_group、旧格式检查点、
错误输入……）加上按种子随机组合的构造参数（取各参数的边界值），每个都在同一个测试里
分别用 torch 与 optlab 跑，比较学习率序列或异常。
"""

from __future__ import annotations

import math
import random

import pytest
import torch
from differential_support import assert_same


def _opt(L, groups=1, cls="SGD", lr=0.1, **kw):
    torch.manual_seed(0)
    params = [{"params": [torch.nn.Parameter(torch.randn(2))], "lr": lr * (i + 1)}
              for i in range(groups)]  # fmt: skip
    if cls == "SGD":
        kw.setdefault("momentum", 0.9)
    return getattr(L.optim, cls)(params, lr=lr, **kw)


def _walk(opt, sched, steps=6, metric=None):
    lrs = []
    for i in range(steps):
        opt.step()
        if metric is not None:
            sched.step(metric(i))
        else:
            sched.step()
        lrs.append([float(g["lr"]) for g in opt.param_groups])
    return lrs


# 每个调度器的一个典型构造（L, opt) -> scheduler
MAKERS = {
    "LambdaLR": lambda L, o: L.lr_scheduler.LambdaLR(o, lambda e: 0.9**e),
    "MultiplicativeLR": lambda L, o: L.lr_scheduler.MultiplicativeLR(o, lambda e: 0.9),
    "StepLR": lambda L, o: L.lr_scheduler.StepLR(o, 2),
    "MultiStepLR": lambda L, o: L.lr_scheduler.MultiStepLR(o, [1, 3]),
    "ConstantLR": lambda L, o: L.lr_scheduler.ConstantLR(o),
    "LinearLR": lambda L, o: L.lr_scheduler.LinearLR(o),
    "ExponentialLR": lambda L, o: L.lr_scheduler.ExponentialLR(o, 0.9),
    "PolynomialLR": lambda L, o: L.lr_scheduler.PolynomialLR(o, 4),
    "CosineAnnealingLR": lambda L, o: L.lr_scheduler.CosineAnnealingLR(o, 4),
    "CosineAnnealingWarmRestarts": lambda L, o: L.lr_scheduler.CosineAnnealingWarmRestarts(o, 2),
    "CyclicLR": lambda L, o: L.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2),
    "OneCycleLR": lambda L, o: L.lr_scheduler.OneCycleLR(o, 0.1, total_steps=10),
    "ReduceLROnPlateau": lambda L, o: L.lr_scheduler.ReduceLROnPlateau(o, patience=0),
    "ChainedScheduler": lambda L, o: L.lr_scheduler.ChainedScheduler(
        [L.lr_scheduler.StepLR(o, 2), L.lr_scheduler.ExponentialLR(o, 0.9)]
    ),
    "SequentialLR": lambda L, o: L.lr_scheduler.SequentialLR(
        o, [L.lr_scheduler.ConstantLR(o), L.lr_scheduler.ExponentialLR(o, 0.9)], [2]
    ),
    "SWALR": lambda L, o: L.swa_utils.SWALR(o, swa_lr=0.05, anneal_epochs=3),
}


def _metric(kind):
    return (lambda i: 1.0) if kind == "ReduceLROnPlateau" else None


@pytest.mark.parametrize("kind", list(MAKERS))
def test_add_param_group_after_scheduler(kind):
    """构造调度器之后再加参数组：torch 对部分调度器在 step 时报错，其余照常；optlab 相同。"""

    def scenario(L):
        opt = _opt(L)
        sched = MAKERS[kind](L, opt)
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "lr": 0.3})
        return _walk(opt, sched, metric=_metric(kind))

    scenario.__name__ = f"add_param_group_after_{kind}"
    assert_same(scenario)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_not_an_optimizer(kind):
    class Fake:
        def __init__(self):
            self.param_groups = [{"lr": 0.1, "momentum": 0.9}]
            self.defaults = {"lr": 0.1, "momentum": 0.9}

        def step(self):
            pass

    def scenario(L):
        return MAKERS[kind](L, Fake())

    scenario.__name__ = f"not_an_optimizer_{kind}"
    assert_same(scenario)


@pytest.mark.parametrize("kind", list(MAKERS))
def test_state_dict_roundtrip_and_resume(kind):
    def scenario(L):
        opt = _opt(L, groups=2)
        sched = MAKERS[kind](L, opt)
        _walk(opt, sched, steps=3, metric=_metric(kind))
        saved = sched.state_dict()
        keys = sorted(k for k in saved if k not in ("_schedulers",))
        opt2 = _opt(L, groups=2)
        opt2.load_state_dict(opt.state_dict())
        sched2 = MAKERS[kind](L, opt2)
        sched2.load_state_dict(saved)
        opt2.load_state_dict(opt.state_dict())
        return keys, _walk(opt2, sched2, steps=4, metric=_metric(kind)), sched2.get_last_lr()

    scenario.__name__ = f"roundtrip_{kind}"
    assert_same(scenario)


@pytest.mark.parametrize("milestones", [[0], [0, 0], [1, 1], [3, 1], [0, 2]])
def test_sequential_lr_milestones(milestones):
    def scenario(L):
        opt = _opt(L)
        scheds = [
            L.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=3),
            L.lr_scheduler.ExponentialLR(opt, 0.5),
            L.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=2),
        ][: len(milestones) + 1]
        seq = L.lr_scheduler.SequentialLR(opt, scheds, milestones)
        return seq.get_last_lr(), _walk(opt, seq)

    scenario.__name__ = f"sequential_{milestones}"
    assert_same(scenario)


def test_old_one_cycle_state_dict_with_anneal_func():
    def scenario(L):
        opt = _opt(L)
        sched = L.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=10, anneal_strategy="linear")
        _walk(opt, sched, steps=2)
        saved = sched.state_dict()
        saved.pop("_anneal_func_type", None)
        saved["anneal_func"] = sched._annealing_linear  # torch < 2.2 保存的是函数本身
        sched2 = L.lr_scheduler.OneCycleLR(_opt(L), 0.1, total_steps=10)
        sched2.load_state_dict(saved)
        return _walk(sched2.optimizer, sched2, steps=3)

    assert_same(scenario)


@pytest.mark.parametrize("factor", [0.9, "x", None, [lambda e: 0.9]])
def test_lambda_schedulers_non_callable(factor):
    for name in ("LambdaLR", "MultiplicativeLR"):

        def scenario(L, name=name):
            opt = _opt(L)
            sched = getattr(L.lr_scheduler, name)(opt, factor)
            return _walk(opt, sched, steps=2)

        scenario.__name__ = f"{name}_{factor!r}"
        assert_same(scenario)


def test_lambda_state_dict_with_callable_object():
    class Factor:
        def __init__(self):
            self.k = 0.5

        def __call__(self, epoch):
            return self.k**epoch

    def scenario(L):
        opt = _opt(L)
        sched = L.lr_scheduler.LambdaLR(opt, [Factor()])
        _walk(opt, sched, steps=2)
        saved = sched.state_dict()
        return saved["lr_lambdas"], sorted(saved)

    assert_same(scenario)


@pytest.mark.parametrize("decay", [0.5, 1.5, -0.1, 0.0, 1.0])
def test_ema_avg_fn_decay_range(decay):
    for name in ("get_ema_avg_fn", "get_ema_multi_avg_fn"):

        def scenario(L, name=name):
            fn = getattr(L.swa_utils, name)(decay)
            a, b = torch.ones(2), torch.zeros(2)
            if name == "get_ema_avg_fn":
                return fn(a, b, 1)
            fn([a], [b], 1)
            return a

        scenario.__name__ = f"{name}({decay})"
        assert_same(scenario)


def test_swalr_arguments():
    cases = [
        {"swa_lr": 0.05, "anneal_epochs": 0},
        {"swa_lr": 0.05, "anneal_epochs": -1},
        {"swa_lr": 0.05, "anneal_epochs": 2.5},
        {"swa_lr": 0.05, "anneal_strategy": "exp"},
        {"swa_lr": [0.05]},
        {"swa_lr": [0.05, 0.01]},
        {"swa_lr": 0.05, "anneal_strategy": "linear", "anneal_epochs": 3},
    ]
    for kw in cases:

        def scenario(L, kw=kw):
            opt = _opt(L)
            sched = L.swa_utils.SWALR(opt, **kw)
            return _walk(opt, sched, steps=5)

        scenario.__name__ = f"SWALR{kw}"
        assert_same(scenario)


def test_get_lr_outside_step_warns():
    def scenario(L):
        opt = _opt(L)
        sched = L.lr_scheduler.StepLR(opt, 2)
        opt.step()
        sched.step()
        return sched.get_lr()

    assert_same(scenario)


def test_step_with_epoch_argument():
    for kind in ("StepLR", "CosineAnnealingLR", "ExponentialLR", "ReduceLROnPlateau"):

        def scenario(L, kind=kind):
            opt = _opt(L)
            sched = MAKERS[kind](L, opt)
            opt.step()
            if kind == "ReduceLROnPlateau":
                sched.step(1.0, epoch=5)
            else:
                sched.step(5)
            return [g["lr"] for g in opt.param_groups], sched.last_epoch

        scenario.__name__ = f"epoch_{kind}"
        assert_same(scenario)


def test_resume_without_initial_lr():
    for kind in ("StepLR", "CosineAnnealingLR", "OneCycleLR", "CyclicLR", "LambdaLR"):

        def scenario(L, kind=kind):
            opt = _opt(L)
            if kind == "OneCycleLR":
                return L.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=10, last_epoch=3)
            if kind == "CyclicLR":
                return L.lr_scheduler.CyclicLR(opt, 0.01, 0.1, last_epoch=3)
            if kind == "LambdaLR":
                return L.lr_scheduler.LambdaLR(opt, lambda e: 1.0, last_epoch=3)
            return getattr(L.lr_scheduler, kind)(opt, 2, last_epoch=3)

        scenario.__name__ = f"resume_{kind}"
        assert_same(scenario)


# ---------------------------------------------------------------- 随机组合的构造参数

EDGES = {
    "int": [-1, 0, 1, 2, 3, 10],
    "float": [-0.5, 0.0, 1e-8, 0.5, 1.0, 1.5, 2.0],
    "last_epoch": [-1, -1, -1, 0, 2],
}

SPACES = {
    "StepLR": lambda r: {"step_size": r.choice(EDGES["int"]), "gamma": r.choice(EDGES["float"])},
    "MultiStepLR": lambda r: {
        "milestones": sorted(r.sample([0, 1, 2, 3, 5], r.randint(0, 3)), reverse=r.random() < 0.2),
        "gamma": r.choice(EDGES["float"]),
    },
    "ConstantLR": lambda r: {
        "factor": r.choice(EDGES["float"]),
        "total_iters": r.choice(EDGES["int"]),
    },
    "LinearLR": lambda r: {
        "start_factor": r.choice(EDGES["float"]),
        "end_factor": r.choice(EDGES["float"]),
        "total_iters": r.choice(EDGES["int"]),
    },
    "ExponentialLR": lambda r: {"gamma": r.choice(EDGES["float"])},
    "PolynomialLR": lambda r: {
        "total_iters": r.choice(EDGES["int"]),
        "power": r.choice(EDGES["float"]),
    },
    "CosineAnnealingLR": lambda r: {
        "T_max": r.choice(EDGES["int"]),
        "eta_min": r.choice(EDGES["float"]),
    },
    "CosineAnnealingWarmRestarts": lambda r: {
        "T_0": r.choice(EDGES["int"] + [1.5]),
        "T_mult": r.choice(EDGES["int"]),
        "eta_min": r.choice(EDGES["float"] + [1]),
    },
    "CyclicLR": lambda r: {
        "base_lr": r.choice([0.01, [0.01], 0.0]),
        "max_lr": r.choice([0.1, 0.001, [0.1]]),
        "step_size_up": r.choice(EDGES["int"]),
        "step_size_down": r.choice([None, *EDGES["int"]]),
        "mode": r.choice(["triangular", "triangular2", "exp_range", "bad"]),
        "gamma": r.choice(EDGES["float"]),
        "scale_mode": r.choice(["cycle", "iterations", "x"]),
        "cycle_momentum": r.choice([True, False]),
        "base_momentum": r.choice([0.8, 0.0]),
        "max_momentum": r.choice([0.9, 0.0]),
    },
    "OneCycleLR": lambda r: {
        "max_lr": r.choice([0.1, [0.1], 1.0]),
        "total_steps": r.choice([None, 0, 1, 5, 10, 2.0]),
        "epochs": r.choice([None, 0, 2, 3]),
        "steps_per_epoch": r.choice([None, 0, 2, 3]),
        "pct_start": r.choice([0.0, 0.3, 0.5, 1.0, 1.5, 1]),
        "anneal_strategy": r.choice(["cos", "linear", "bad"]),
        "three_phase": r.choice([True, False]),
        "div_factor": r.choice([1.0, 25.0, 0.5]),
        "final_div_factor": r.choice([1.0, 1e4]),
        "cycle_momentum": r.choice([True, False]),
    },
    "ReduceLROnPlateau": lambda r: {
        "mode": r.choice(["min", "max", "avg"]),
        "factor": r.choice([0.1, 0.5, 1.0, 1.5, 0.0]),
        "patience": r.choice([0, 1, 3]),
        "threshold": r.choice([0.0, 1e-4, 0.5]),
        "threshold_mode": r.choice(["rel", "abs", "x"]),
        "cooldown": r.choice([0, 1, 2]),
        "min_lr": r.choice([0, 0.05, [0.05], [0.05, 0.0]]),
        "eps": r.choice([1e-8, 0.5]),
    },
}


def _random_cases(n_per_kind=12, seed=2026):
    rng = random.Random(seed)
    cases = []
    for kind, space in SPACES.items():
        for i in range(n_per_kind):
            kw = space(rng)
            if kind not in ("ReduceLROnPlateau",):
                kw["last_epoch"] = rng.choice(EDGES["last_epoch"])
            cases.append(pytest.param(kind, kw, rng.choice(["SGD", "Adam"]), id=f"{kind}-{i}"))
    return cases


@pytest.mark.parametrize(("kind", "kwargs", "opt_cls"), _random_cases())
def test_random_constructor_arguments(kind, kwargs, opt_cls):
    metrics = [1.0, 0.9, 0.95, 0.95, 0.5, 0.6, 0.7, 0.7]

    def scenario(L):
        opt = _opt(L, cls=opt_cls)
        if kwargs.get("last_epoch", -1) >= 0:  # 恢复：参数组里要有 initial_lr（与 max_lr 等）
            for g in opt.param_groups:
                g["initial_lr"] = g["lr"]
                g["max_lr"] = 0.1
                g["min_lr"] = 0.0
        sched = getattr(L.lr_scheduler, kind)(opt, **kwargs)
        metric = (lambda i: metrics[i]) if kind == "ReduceLROnPlateau" else None
        lrs = _walk(opt, sched, steps=8, metric=metric)
        momenta = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]
        return lrs, momenta, sched.get_last_lr()

    scenario.__name__ = f"{kind}{kwargs}"
    outcome = assert_same(scenario)
    if outcome.ok:  # nan/inf 也要与 torch 一样（same_value 把 nan 视为相等）
        assert all(
            isinstance(lr, float) or math.isnan(lr) for row in outcome.value[0] for lr in row
        )


@pytest.mark.parametrize(
    "kind", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "CyclicLR", "LinearLR", "SWALR"]
)
def test_tensor_lr(kind):
    """学习率是张量时：调度器原地改写同一个张量，get_last_lr 给出副本，与 torch 相同。"""

    def scenario(L):
        torch.manual_seed(0)
        p = torch.nn.Parameter(torch.randn(2))
        lr = torch.tensor(0.01)
        opt = L.optim.Adam([p], lr=lr, foreach=False)
        sched = MAKERS[kind](L, opt)
        seen = []
        for _ in range(4):
            p.grad = torch.ones(2)
            opt.step()
            sched.step()
            last = sched.get_last_lr()[0]
            seen.append((type(last).__name__, float(last), opt.param_groups[0]["lr"] is lr))
        return seen, p.detach().clone()

    scenario.__name__ = f"tensor_lr_{kind}"
    assert_same(scenario)


@pytest.mark.parametrize("outer", ["torch", "optlab"])
@pytest.mark.parametrize("composite", ["SequentialLR", "ChainedScheduler"])
def test_composites_mix_torch_and_optlab_members(outer, composite):
    """torch 的组合调度器装 optlab 的成员（或反过来），结果与全用 torch 的相同。"""
    from differential_support import OPTLAB, TORCH

    def build(outer_lib, member_lib, opt_lib):
        opt = _opt(opt_lib)
        members = [
            member_lib.lr_scheduler.LinearLR(opt, start_factor=0.2, total_iters=3),
            member_lib.lr_scheduler.CosineAnnealingLR(opt, T_max=4),
        ]
        if composite == "SequentialLR":
            sched = outer_lib.lr_scheduler.SequentialLR(opt, members, milestones=[3])
        else:
            sched = outer_lib.lr_scheduler.ChainedScheduler(members)
        return _walk(opt, sched, steps=8), sched.get_last_lr()

    reference = build(TORCH, TORCH, TORCH)
    mixed = build(TORCH, OPTLAB, OPTLAB) if outer == "torch" else build(OPTLAB, TORCH, OPTLAB)
    from differential_support import same_value

    assert same_value(mixed, reference, rtol=1e-12), (mixed, reference)
