"""optlab.lr_scheduler 与 torch.optim.lr_scheduler 逐步对照：学习率与动量/betas[0] 完全一致。"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.optim.lr_scheduler as torch_sched
from lr_scheduler_cases import CASES, FACTORIES, REFERENCE

import optlab.lr_scheduler as ours_sched

STEPS = 120


def snapshot(optimizer) -> list[tuple]:
    """每个参数组的 (学习率, 动量或 betas[0])。"""
    out = []
    for group in optimizer.param_groups:
        momentum = group["betas"][0] if "betas" in group else group.get("momentum")
        lr = group["lr"]
        out.append((lr.item() if isinstance(lr, torch.Tensor) else lr, momentum))
    return out


def run(module, make_scheduler, optimizer, steps=STEPS) -> list:
    """构造调度器后按“先 optimizer.step 再 scheduler.step”走 steps 步，记录每一步。"""
    scheduler = make_scheduler(module, optimizer)
    history = [(snapshot(optimizer), list(scheduler.get_last_lr()))]
    for _ in range(steps):
        if hasattr(optimizer, "step"):
            optimizer.step()
        scheduler.step()
        history.append((snapshot(optimizer), list(scheduler.get_last_lr())))
    return history


@pytest.mark.parametrize("factory", FACTORIES, ids=[f[0] for f in FACTORIES])
@pytest.mark.parametrize("case", sorted(CASES))
def test_trajectory_matches_torch(case, factory):
    _, family, make_optimizer = factory
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 正确的调用顺序下不应有任何警告
        expected = run(torch_sched, CASES[case], REFERENCE[family]())
        actual = run(ours_sched, CASES[case], make_optimizer())
    assert len(actual) == STEPS + 1
    assert actual == expected


def test_lrs_actually_change():
    """防止“什么都不做”也能通过：每个用例的学习率在这些步里至少变化一次。"""
    for case, make in CASES.items():
        history = run(ours_sched, make, REFERENCE["momentum"]())
        lrs = {tuple(lr for lr, _ in snap) for snap, _ in history}
        assert len(lrs) > 1, case


def test_chaining_exponential_and_multistep():
    """两个调度器背靠背地走，后一个作用在前一个留下的学习率上。"""

    def lrs(module, optimizer):
        first = module.ExponentialLR(optimizer, gamma=0.9)
        second = module.MultiStepLR(optimizer, milestones=[30, 80], gamma=0.1)
        out = []
        for _ in range(100):
            optimizer.step()
            first.step()
            second.step()
            out.append([g["lr"] for g in optimizer.param_groups])
        return out

    expected = lrs(torch_sched, REFERENCE["momentum"]())
    actual = lrs(ours_sched, REFERENCE["momentum"]())
    assert actual == expected
    # 里程碑处在指数衰减之上再乘 0.1
    assert actual[29][0] == pytest.approx(actual[28][0] * 0.9 * 0.1)  # 第 30 步


@pytest.mark.parametrize(
    "case",
    [
        "StepLR",
        "MultiStepLR",
        "ConstantLR",
        "LinearLR",
        "ExponentialLR",
        "PolynomialLR",
        "CosineAnnealingLR",
        "LambdaLR",
        "MultiplicativeLR",
    ],
)
def test_step_with_epoch_uses_closed_form(case):
    """``step(epoch)`` 走闭式并发出与 torch 同类的弃用警告。"""
    epochs = [3, 1, 0, 17, 40, 41, 100, 7, 7, 60]

    def lrs(module):
        optimizer = REFERENCE["momentum"]()
        scheduler = CASES[case](module, optimizer)
        out = []
        for epoch in epochs:
            optimizer.step()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                scheduler.step(epoch)
            out.append(([g["lr"] for g in optimizer.param_groups], [w.category for w in caught]))
        return out

    expected = lrs(torch_sched)
    assert all(UserWarning in cats for _, cats in expected)
    assert lrs(ours_sched) == expected


@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_warm_restarts_fractional_epochs(t_mult):
    """CosineAnnealingWarmRestarts 支持 ``step(epoch + i / iters)`` 这样的小数步。"""

    def lrs(module):
        optimizer = REFERENCE["momentum"]()
        scheduler = module.CosineAnnealingWarmRestarts(
            optimizer, T_0=3, T_mult=t_mult, eta_min=1e-3
        )
        out = []
        iters = 7
        for epoch in range(20):
            for i in range(iters):
                optimizer.step()
                scheduler.step(epoch + i / iters)
                out.append(
                    (
                        [g["lr"] for g in optimizer.param_groups],
                        scheduler.T_cur,
                        scheduler.T_i,
                        scheduler.last_epoch,
                    )
                )
        # 回到较早的小数步也要对
        for epoch in (2.5, 0.25, 11.75):
            scheduler.step(epoch)
            out.append(([g["lr"] for g in optimizer.param_groups], scheduler.T_cur, scheduler.T_i))
        return out

    expected = lrs(torch_sched)
    actual = lrs(ours_sched)
    assert actual == expected
    assert len({tuple(x[0]) for x in actual}) > 50


def test_tensor_lr_updated_in_place():
    """参数组学习率是张量时原地 fill_，张量对象不换；返回值是副本。"""
    for case in [
        "StepLR",
        "CosineAnnealingLR",
        "LinearLR",
        "OneCycleLR-cos",
        "CyclicLR-triangular",
        "SequentialLR",
        "ExponentialLR",
    ]:

        def make():
            params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))]
            return torch.optim.SGD(
                [
                    {"params": [params[0]], "lr": torch.tensor(0.1)},
                    {"params": [params[1]], "lr": torch.tensor(0.03)},
                ],
                lr=0.5,
                momentum=0.9,
            )

        theirs, ours = make(), make()
        lr_objects = [g["lr"] for g in ours.param_groups]
        t_s, o_s = CASES[case](torch_sched, theirs), CASES[case](ours_sched, ours)
        for _ in range(40):
            theirs.step(), ours.step()
            t_s.step(), o_s.step()
            for tg, og in zip(theirs.param_groups, ours.param_groups):
                torch.testing.assert_close(og["lr"], tg["lr"], rtol=0, atol=0)
            assert [g["lr"] for g in ours.param_groups] == lr_objects or all(
                a is b for a, b in zip((g["lr"] for g in ours.param_groups), lr_objects)
            )
            last = o_s.get_last_lr()
            assert all(isinstance(x, torch.Tensor) for x in last), case
            assert all(a is not g["lr"] for a, g in zip(last, ours.param_groups))
        assert all(a is b for a, b in zip((g["lr"] for g in ours.param_groups), lr_objects))


def test_exports_and_signatures_match_torch():
    import inspect

    assert sorted(ours_sched.__all__) == sorted(torch_sched.__all__)
    for name in torch_sched.__all__ + ["_LRScheduler"]:
        theirs = inspect.signature(getattr(torch_sched, name)).parameters
        ours = inspect.signature(getattr(ours_sched, name)).parameters
        assert [(p.name, p.default, p.kind) for p in ours.values()] == [
            (p.name, p.default, p.kind) for p in theirs.values()
        ], name
    for name in torch_sched.__all__:
        if name != "LRScheduler":
            assert issubclass(getattr(ours_sched, name), ours_sched.LRScheduler)
    assert issubclass(ours_sched._LRScheduler, ours_sched.LRScheduler)
