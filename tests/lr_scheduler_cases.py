"""学习率调度器测试共用的优化器工厂与调度器用例（torch 与 optlab 共用同一份构造代码）。"""

from __future__ import annotations

import torch

import optlab

LRS = (0.1, 0.03)  # 两个参数组，学习率不同


class StandInOptimizer(torch.optim.Optimizer):
    """只有 ``param_groups`` 与 ``defaults`` 的替身：证明调度器只依赖这两样。

    与 torch 一样，调度器要求 ``isinstance(optimizer, torch.optim.Optimizer)``，
    所以替身继承这个类型，但不运行它的 ``__init__``。
    """

    def __init__(self, groups: list[dict], defaults: dict) -> None:
        self.defaults = dict(defaults)
        self.param_groups = [{**self.defaults, **g} for g in groups]

    def step(self, closure=None) -> None:
        """什么也不更新（替身没有参数可更新）。"""


def _params():
    torch.manual_seed(0)
    return [torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2))]


def _groups(lrs=LRS):
    return [{"params": [p], "lr": lr} for p, lr in zip(_params(), lrs)]


def torch_sgd(lrs=LRS):
    return torch.optim.SGD(_groups(lrs), lr=0.5, momentum=0.9)


def torch_adam(lrs=LRS):
    return torch.optim.Adam(_groups(lrs), lr=0.5, betas=(0.9, 0.99))


def stand_in_sgd(lrs=LRS):
    return StandInOptimizer(_groups(lrs), {"lr": 0.5, "momentum": 0.9})


def stand_in_adam(lrs=LRS):
    return StandInOptimizer(_groups(lrs), {"lr": 0.5, "betas": (0.9, 0.99)})


# 每个工厂：(名字, 动量族, 构造函数)；动量族决定用哪个 torch 优化器当参照
FACTORIES = [
    ("torch.SGD", "momentum", torch_sgd),
    ("torch.Adam", "betas", torch_adam),
    ("stand-in(momentum)", "momentum", stand_in_sgd),
    ("stand-in(betas)", "betas", stand_in_adam),
]
if hasattr(optlab, "SGD"):
    FACTORIES.append(
        ("optlab.SGD", "momentum", lambda lrs=LRS: optlab.SGD(_groups(lrs), lr=0.5, momentum=0.9))
    )
if hasattr(optlab, "Adam"):
    FACTORIES.append(
        (
            "optlab.Adam",
            "betas",
            lambda lrs=LRS: optlab.Adam(_groups(lrs), lr=0.5, betas=(0.9, 0.99)),
        )
    )
REFERENCE = {"momentum": torch_sgd, "betas": torch_adam}
STATEFUL_FACTORIES = [f for f in FACTORIES if not f[0].startswith("stand-in")]


class Halving:
    """可调用对象（非函数）：LambdaLR/CyclicLR 会保存它的 ``__dict__``。"""

    def __init__(self, rate: float = 0.97) -> None:
        self.rate = rate

    def __call__(self, x):
        return self.rate**x


# (用例名, 构造函数(调度器模块, 优化器) -> 调度器)。同一函数分别用 torch 与 optlab 的模块调用。
CASES = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.95**e),
    "LambdaLR-list": lambda m, o: m.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.9 ** (e // 7)]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.97 if e % 3 else 1.01),
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[10, 30, 30, 70], gamma=0.3),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=13),
    "ConstantLR-default": lambda m, o: m.ConstantLR(o),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=40),
    "LinearLR-down": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=60),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.96),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=80, power=2.0),
    "PolynomialLR-default": lambda m, o: m.PolynomialLR(o),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=25, eta_min=0.001),
    "CosineAnnealingLR-eta0": lambda m, o: m.CosineAnnealingLR(o, T_max=17),
    "WarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=9, eta_min=0.002),
    "WarmRestarts-Tmult": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2),
    "CyclicLR-triangular": lambda m, o: m.CyclicLR(o, 0.01, [0.2, 0.1], step_size_up=8),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(
        o, [0.01, 0.02], 0.3, step_size_up=6, step_size_down=11, mode="triangular2"
    ),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(
        o, 0.01, 0.3, step_size_up=5, mode="exp_range", gamma=0.98, base_momentum=0.7
    ),
    "CyclicLR-scale_fn-cycle": lambda m, o: m.CyclicLR(
        o, 0.01, 0.3, step_size_up=4, scale_fn=lambda x: 1 / x, scale_mode="cycle"
    ),
    "CyclicLR-scale_fn-iterations": lambda m, o: m.CyclicLR(
        o, 0.01, 0.3, step_size_up=4, scale_fn=Halving(), scale_mode="iterations"
    ),
    "CyclicLR-no-momentum": lambda m, o: m.CyclicLR(
        o, 0.01, 0.3, step_size_up=3, cycle_momentum=False
    ),
    "OneCycleLR-cos": lambda m, o: m.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=120),
    "OneCycleLR-linear": lambda m, o: m.OneCycleLR(
        o, max_lr=0.4, epochs=10, steps_per_epoch=12, anneal_strategy="linear", pct_start=0.25
    ),
    "OneCycleLR-three-phase": lambda m, o: m.OneCycleLR(
        o, max_lr=0.4, total_steps=121, three_phase=True, base_momentum=[0.8, 0.7]
    ),
    "OneCycleLR-no-momentum": lambda m, o: m.OneCycleLR(
        o, max_lr=0.4, total_steps=125, cycle_momentum=False, div_factor=10.0
    ),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, 0.1, total_iters=10), m.ExponentialLR(o, 0.9), m.CosineAnnealingLR(o, 20)],
        milestones=[10, 40],
    ),
    "SequentialLR-mult": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, 0.5, 5), m.MultiplicativeLR(o, lambda e: 0.98)], milestones=[15]
    ),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, 0.1, 4), m.ExponentialLR(o, 0.9), m.StepLR(o, 10, 2.0)]
    ),
    "ChainedScheduler-optimizer": lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, 0.2, total_iters=9), m.CosineAnnealingLR(o, 30)], optimizer=o
    ),
}
