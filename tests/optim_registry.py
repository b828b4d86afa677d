"""优化器登记表：每个优化器一条 ``OptimSpec``，``tests/test_optimizers.py`` 据此生成全部通用测试。

**给 optlab 加一个优化器 = 在 ``REGISTRY`` 里加一条记录 + 写它自己的 ``tests/test_<算法>.py``。**

- 登记表写下这个算法“是什么样的”：接受哪些选项（选项网格，连同 foreach/fused/capturable/
  differentiable 等实现开关）、接受什么形状的参数、是否必须用闭包、支不支持稀疏梯度与复数、
  对照时用多大的 lr、哪些输入是错误的以及 torch 抛什么异常。
- 通用测试（签名与默认值、状态布局、与 torch.optim 逐步对照、state_dict 双向互通、capturable、
  differentiable、错误输入、复数与稀疏）全部由 ``test_optimizers.py`` 按登记表生成，不用再写。
- 只有这个算法独有的性质（LBFGS 的线搜索、Muon 的正交化、RAdam 的整流开关……）才写进
  ``tests/test_<算法>.py``。
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from optim_test_support import grid

T = torch.tensor


@dataclass(frozen=True)
class Bad:
    """一个错误输入：``options`` 构造优化器（``on="step"`` 时再走一步），torch 抛 ``error``。

    参数默认是登记表 ``shapes[0]`` 形状的 float32 张量；``shape``/``dtype`` 可以换掉，
    ``sparse_grad=True`` 时走一步用的是稀疏梯度。
    """

    options: dict[str, Any]
    error: type[BaseException]
    on: str = "init"  # "init"：构造时；"step"：第一次 step 时
    shape: tuple[int, ...] | None = None
    dtype: torch.dtype = torch.float32
    sparse_grad: bool = False


@dataclass(frozen=True)
class OptimSpec:
    """一个优化器在测试里的全部描述。字段为空元组表示“不支持/不适用”。"""

    name: str
    #: 逐步对照用的学习率（网格对照里第 i 个参数组用 lr·(i+1)/2）
    lr: float
    #: 选项网格：每个组合都与 torch 逐步对照（不含实现开关，实现开关见 impls）
    grid: list[dict[str, Any]]
    #: 支持的实现："loop"（foreach=False）、"foreach"、"fused"；网格按每种实现各跑一遍
    impls: tuple[str, ...] = ("loop", "foreach")
    #: 参数的形状；一次对照把若干网格组合分别放进各参数的参数组
    shapes: tuple[tuple[int, ...], ...] = ((5, 4), (7,), (2, 3, 2))
    #: 梯度："dense" 只收稠密梯度；"both" 也收稀疏梯度；"sparse" 只收稀疏梯度（参数当 embedding 表）
    grads: str = "dense"
    complex: bool = True
    closure: bool = False
    param_groups: bool = True  # False：只允许一个参数组（LBFGS）
    steps: int = 30
    #: 网格之外的单独对照（张量超参数、边界值……），在 extra_dtypes 的每个 dtype 上各跑一遍
    extra_runs: tuple[dict[str, Any], ...] = ()
    extra_dtypes: tuple[torch.dtype, ...] = (torch.float32,)
    #: grads == "both" 时用稀疏梯度对照的选项
    sparse_runs: tuple[dict[str, Any], ...] = ()
    #: state_dict 双向互通用的选项（都在 fp32 上；最后一组另在复数上——不支持复数时 fp64——再跑一遍）
    state_dict_runs: tuple[dict[str, Any], ...] = ({},)
    #: capturable=True 的数学路径（CPU 上放行设备检查）对照用的选项；空：不支持 capturable
    capturable_runs: tuple[dict[str, Any], ...] = ()
    #: capturable 的参照："loop" 取 torch 的 for-loop capturable 路径，"same" 取同一条路径
    capturable_reference: str = "loop"
    #: differentiable=True 时对照导数用的选项；空：不支持 differentiable
    differentiable_runs: tuple[dict[str, Any], ...] = ()
    differentiable_steps: int = 3  # 与 torch 比较导数时连走几步
    #: 有限差分检验我们连走几步的导数；0：不检验（torch 自己就截断了某条导数路径）
    gradcheck_steps: int = 3
    differentiable_lr: bool = True  # 导数是否流到张量 lr（torch 的 ASGD 用 .item()，流不到）
    bad: tuple[Bad, ...] = ()
    #: 在 CUDA 上对照的选项（fp32 与 fp64）
    cuda_runs: tuple[dict[str, Any], ...] = ()
    notes: str = ""

    def __repr__(self) -> str:  # pytest 的用例 id 用它
        return self.name

    @property
    def dtypes(self) -> list[torch.dtype]:
        return [torch.float32, torch.float64] + ([torch.complex64] if self.complex else [])

    def pack(self) -> int:
        """一次对照放几个网格组合（每个参数一个参数组）。"""
        return len(self.shapes) if self.param_groups else 1


def _family_cuda(**base):
    """CUDA 上的几种实现：默认 for-loop/foreach、capturable 的真实张量路径、设备上的张量 lr。"""
    lr = base.pop("lr")
    return tuple(
        dict(base, lr=lr, **v)
        for v in (
            {"foreach": False},
            {"foreach": True},
            {"capturable": True, "foreach": False},
            {"capturable": True, "foreach": True},
        )
    ) + (
        dict(base, lr=T(lr, device="cuda"), capturable=True, foreach=True),
        dict(base, lr=T(lr, device="cuda"), capturable=True, foreach=False, maximize=True),
    )


def _capturable_cuda(lr, tensor_lr, **base):
    """CUDA 上 capturable 的 for-loop 与 foreach 路径，各配 Python 数 lr 与设备上的张量 lr。"""
    return tuple(
        dict(base, lr=value, capturable=True, foreach=f)
        for f in (False, True)
        for value in (lr, T(tensor_lr, device="cuda"))
    )


def _cuda_lazy(make):
    """CUDA 选项里可能有 cuda 张量：没有 CUDA 时不构造。"""
    return make() if torch.cuda.is_available() else ()


def with_decay(**axes):
    """网格 × 权重衰减的三种情形：无、L2（加进梯度）、解耦（直接缩放参数）；
    wd=0 时 decoupled 不起作用，不重复测。"""
    decay = [
        {"weight_decay": 0, "decoupled_weight_decay": False},
        {"weight_decay": 0.1, "decoupled_weight_decay": False},
        {"weight_decay": 0.1, "decoupled_weight_decay": True},
    ]
    return [{**d, **r} for d in decay for r in grid(**axes)]


COMMON_BAD = (
    Bad({"lr": -1.0}, ValueError),
    Bad({"lr": T([0.1, 0.2])}, ValueError),
)
NO_FUSED = Bad({"fused": True}, TypeError)  # 没有 fused 参数
#: differentiable 时 lr 只能是 Python 数（torch 的这条路径把 lr 当标量乘数）
DIFFERENTIABLE_TENSOR_LR = Bad(
    {"lr": T(0.1, requires_grad=True), "differentiable": True}, TypeError, on="step"
)
FOREACH_DIFFERENTIABLE = Bad({"foreach": True, "differentiable": True}, AssertionError, on="step")
#: 只有 for-loop 与 foreach 两种实现（没有 fused）、支持 differentiable 的算法共有的错误输入
LOOP_FOREACH_BAD = (*COMMON_BAD, NO_FUSED, FOREACH_DIFFERENTIABLE)


def _sgd_grid():
    return [
        c
        for c in grid(
            momentum=[0, 0.9],
            dampening=[0, 0.3],
            nesterov=[False, True],
            weight_decay=[0, 0.1],
            maximize=[False, True],
        )
        # torch 拒绝 nesterov 配无动量或有 dampening；无动量时 dampening 不起作用（与 0 重复）
        if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))
        and not (c["momentum"] == 0 and c["dampening"] != 0)
    ]


REGISTRY: list[OptimSpec] = [
    OptimSpec(
        name="SGD",
        lr=0.05,
        grid=_sgd_grid(),
        impls=("loop", "foreach", "fused"),
        grads="both",
        extra_dtypes=(torch.float32, torch.float64),
        extra_runs=(
            {"lr": T(0.05)},
            {"lr": T(0.05), "momentum": 0.9, "foreach": True},
            {"lr": 0.05, "weight_decay": T(0.1), "momentum": 0.5},
            {"lr": 0.05, "weight_decay": T(0.1), "foreach": True},
        ),
        sparse_runs=tuple(
            dict(o, foreach=f)
            for o in ({}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True})
            for f in (False, True)
        ),
        state_dict_runs=(
            {},
            {"momentum": 0.9},
            {"momentum": 0.9, "fused": True},
            {"momentum": 0.9, "nesterov": True, "foreach": True},
        ),
        differentiable_runs=({"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},),
        gradcheck_steps=0,  # torch 用 clone(grad).detach() 建动量缓冲：对第一步梯度的导数被截断
        bad=(
            *COMMON_BAD,
            Bad({"momentum": -0.1}, ValueError),
            Bad({"weight_decay": -0.1}, ValueError),
            Bad({"nesterov": True}, ValueError),
            Bad({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError),
            Bad({"fused": True, "foreach": True}, RuntimeError),
            Bad({"fused": True, "differentiable": True}, RuntimeError),
            Bad({"fused": True}, RuntimeError, on="step", dtype=torch.complex64),
            Bad({"fused": True}, RuntimeError, on="step", shape=(4, 2), sparse_grad=True),
            Bad({"weight_decay": 0.1}, RuntimeError, on="step", shape=(4, 2), sparse_grad=True),
        ),
        cuda_runs=({"momentum": 0.9, "foreach": True}, {"momentum": 0.9, "fused": True}),
    ),
    OptimSpec(
        name="Adam",
        lr=0.05,
        grid=grid(
            amsgrad=[False, True],
            weight_decay=[0, 0.1],
            maximize=[False, True],
            decoupled_weight_decay=[False, True],
        ),
        impls=("loop", "foreach", "fused"),
        extra_dtypes=(torch.float32, torch.float64),
        extra_runs=(
            {"lr": T(0.05), "amsgrad": True},
            {"lr": T(0.05), "betas": (T(0.8), T(0.9))},
            {"lr": 0.05, "weight_decay": T(0.1)},
            {"lr": T(0.05), "capturable": True, "fused": True},
        ),
        state_dict_runs=(
            {},
            {"weight_decay": 0.1, "decoupled_weight_decay": True},
            {"fused": True, "amsgrad": True},
            {"weight_decay": 0.1, "amsgrad": True, "foreach": True},
        ),
        capturable_runs=({"weight_decay": 0.1, "amsgrad": True}, {"lr": T(0.05), "maximize": True}),
        differentiable_runs=({"weight_decay": 0.1},),
        bad=(
            *COMMON_BAD,
            FOREACH_DIFFERENTIABLE,
            Bad({"eps": -1.0}, ValueError),
            Bad({"betas": (1.0, 0.999)}, ValueError),
            Bad({"betas": (0.9, 1.0)}, ValueError),
            Bad({"weight_decay": -0.1}, ValueError),
            Bad({"fused": True, "foreach": True}, RuntimeError),
            Bad({"fused": True, "differentiable": True}, RuntimeError),
            Bad({"fused": True}, RuntimeError, on="step", dtype=torch.complex64),
        ),
        cuda_runs=(
            {"capturable": True},
            {"capturable": True, "foreach": True, "amsgrad": True},
            {"lr": T(0.01), "capturable": True, "foreach": True},
            {"fused": True, "weight_decay": 0.1},
        ),
    ),
    OptimSpec(
        name="AdamW",
        lr=0.05,
        grid=grid(amsgrad=[False, True], weight_decay=[0, 0.1], maximize=[False, True]),
        impls=("loop", "foreach", "fused"),
        extra_dtypes=(torch.float32, torch.float64),
        extra_runs=(
            {"lr": T(0.05), "weight_decay": 0.2},
            {"lr": 0.05, "weight_decay": T(0.1), "foreach": True},
            {"lr": T(0.05), "betas": (T(0.8), T(0.9)), "fused": True},
        ),
        state_dict_runs=({}, {"weight_decay": 0.1, "amsgrad": True, "foreach": True}),
        capturable_runs=({"weight_decay": 0.1, "amsgrad": True}, {"lr": T(0.05)}),
        differentiable_runs=({"maximize": True},),
        bad=(*COMMON_BAD, Bad({"weight_decay": -0.1}, ValueError), FOREACH_DIFFERENTIABLE),
        cuda_runs=({"capturable": True, "foreach": True}, {"fused": True, "amsgrad": True}, {}),
    ),
    OptimSpec(
        name="Adagrad",
        lr=0.1,
        grid=grid(
            weight_decay=[0, 0.1],
            lr_decay=[0, 0.3],
            initial_accumulator_value=[0, 0.2],
            maximize=[False, True],
        ),
        impls=("loop", "foreach", "fused"),
        grads="both",
        extra_runs=(
            {"lr": T(0.05), "lr_decay": 0.1},
            {"lr": T(0.05), "lr_decay": 0.1, "foreach": True},
            {"lr": T(0.05), "lr_decay": 0.1, "fused": True},
        ),
        sparse_runs=(
            {},
            {"maximize": True, "lr_decay": 0.2},
            {"initial_accumulator_value": 0.1, "foreach": True},
            {"maximize": True, "lr_decay": 0.2, "initial_accumulator_value": 0.1, "foreach": True},
        ),
        state_dict_runs=(
            {},
            {"lr_decay": 0.1},
            {"fused": True, "initial_accumulator_value": 0.1},
            {"foreach": True, "weight_decay": 0.1, "lr_decay": 0.1},
        ),
        differentiable_runs=({}, {"weight_decay": 0.1, "lr_decay": 0.2}),
        differentiable_lr=False,  # 见 bad 里的 DIFFERENTIABLE_TENSOR_LR
        bad=(
            *COMMON_BAD,
            DIFFERENTIABLE_TENSOR_LR,
            FOREACH_DIFFERENTIABLE,
            Bad({"lr": float("nan")}, ValueError),
            Bad({"lr_decay": -0.5}, ValueError),
            Bad({"weight_decay": -1.0}, ValueError),
            Bad({"initial_accumulator_value": -1.0}, ValueError),
            Bad({"eps": -1e-3}, ValueError),
            Bad({"fused": True, "differentiable": True}, RuntimeError),
            Bad({"fused": True, "foreach": True}, RuntimeError),
            Bad({"capturable": True}, TypeError),
            Bad({"fused": True}, RuntimeError, on="step", dtype=torch.complex64),
            Bad({"weight_decay": 0.1}, RuntimeError, on="step", shape=(4, 2), sparse_grad=True),
            Bad({"fused": True}, RuntimeError, on="step", shape=(4, 2), sparse_grad=True),
        ),
        cuda_runs=tuple(
            dict(lr=0.1, weight_decay=0.1, lr_decay=0.1, **i)
            for i in ({"foreach": False}, {"foreach": True}, {"fused": True})
        ),
    ),
    OptimSpec(
        name="Adadelta",
        lr=1.0,
        grid=grid(weight_decay=[0, 0.1], rho=[0.9, 0.5], maximize=[False, True]),
        extra_runs=tuple(
            dict(o, foreach=f)
            # rho=0 与 rho=1 都在 torch 允许的闭区间内
            for o in ({"lr": T(0.5)}, {"rho": 0.0}, {"rho": 1.0, "eps": 1e-3})
            for f in (False, True)
        ),
        state_dict_runs=({}, {"weight_decay": 0.1}, {"foreach": True, "rho": 0.8}),
        capturable_runs=({"weight_decay": 0.1}, {"weight_decay": 0.1, "lr": T(0.5)}),
        differentiable_runs=({}, {"weight_decay": 0.1, "rho": 0.5}),
        differentiable_lr=False,  # 见 bad 里的 DIFFERENTIABLE_TENSOR_LR
        bad=(
            *LOOP_FOREACH_BAD,
            DIFFERENTIABLE_TENSOR_LR,
            Bad({"rho": -0.1}, ValueError),
            Bad({"rho": 1.1}, ValueError),
            Bad({"eps": -1.0}, ValueError),
            Bad({"weight_decay": -1.0}, ValueError),
        ),
        cuda_runs=_cuda_lazy(lambda: _capturable_cuda(1.0, 0.5, weight_decay=0.1)),
    ),
    OptimSpec(
        name="RMSprop",
        lr=0.01,
        grid=grid(
            alpha=[0.9],
            weight_decay=[0, 0.1],
            momentum=[0, 0.5],
            centered=[False, True],
            maximize=[False, True],
        ),
        extra_runs=tuple(
            dict(o, foreach=f)
            # torch 对 momentum 不设上界，momentum=1 也接受
            for o in ({"lr": T(0.01), "momentum": 0.3}, {"lr": 0.001, "momentum": 1.0})
            for f in (False, True)
        ),
        state_dict_runs=(
            {},
            {"momentum": 0.9, "centered": True},
            {
                "weight_decay": 0.1,
                "centered": True,
                "momentum": 0.1,
                "maximize": True,
                "foreach": True,
            },
        ),
        capturable_runs=(
            {},
            {"lr": T(0.01)},
            {"momentum": 0.5, "centered": True, "weight_decay": 0.1},
            {"lr": T(0.01), "momentum": 0.5, "centered": True, "weight_decay": 0.1},
        ),
        # centered 的 differentiable 是 torch 的一个特例，见 test_rmsprop.py
        differentiable_runs=({}, {"weight_decay": 0.1, "momentum": 0.5}),
        differentiable_lr=False,  # 见 bad 里的 DIFFERENTIABLE_TENSOR_LR
        bad=(
            *LOOP_FOREACH_BAD,
            DIFFERENTIABLE_TENSOR_LR,
            Bad({"eps": -1.0}, ValueError),
            Bad({"momentum": -0.1}, ValueError),
            Bad({"weight_decay": -1.0}, ValueError),
            Bad({"alpha": -0.5}, ValueError),
        ),
        cuda_runs=_cuda_lazy(lambda: _capturable_cuda(0.01, 0.01, momentum=0.5, centered=True)),
    ),
    OptimSpec(
        name="Rprop",
        lr=0.01,
        grid=grid(
            etas=[(0.5, 1.2), (0.3, 1.5)],
            step_sizes=[(1e-6, 50), (1e-3, 0.05)],
            maximize=[False, True],
        ),
        extra_runs=tuple(
            dict(o, foreach=f)
            # torch 接受张量 lr 与张量 eta；step_sizes 不做检查（下界大于上界时一律取上界）
            for o in ({"lr": T(0.02)}, {"etas": (T(0.4), 1.3)}, {"step_sizes": (0.05, 0.01)})
            for f in (False, True)
        ),
        state_dict_runs=({}, {"maximize": True}, {"foreach": True, "etas": (0.3, 1.5)}),
        capturable_runs=({}, {"lr": T(0.01)}),
        differentiable_runs=({}, {"etas": (0.3, 1.5), "step_sizes": (1e-3, 0.05)}),
        differentiable_lr=False,  # 见 bad 里的 DIFFERENTIABLE_TENSOR_LR
        # torch 2.13 连走两步后反传会报“被原地修改”（step_size 被下一步覆盖）
        differentiable_steps=1,
        bad=(
            *LOOP_FOREACH_BAD,
            DIFFERENTIABLE_TENSOR_LR,
            Bad({"etas": (1.0, 0.5)}, ValueError),
            Bad({"etas": (0.0, 1.2)}, ValueError),
            Bad({"etas": (0.5, 1.0)}, ValueError),
            Bad({"etas": (-0.5, 1.2)}, ValueError),
            Bad({"weight_decay": 0.1}, TypeError),
        ),
        cuda_runs=_cuda_lazy(lambda: _capturable_cuda(0.01, 0.01)),
    ),
    OptimSpec(
        name="Adamax",
        lr=0.05,
        grid=grid(betas=[(0.9, 0.999), (0.5, 0.8)], weight_decay=[0, 0.1], maximize=[False, True]),
        extra_dtypes=(torch.float32, torch.float64),
        extra_runs=(
            {"lr": T(0.05)},
            {"lr": T(0.05), "foreach": True},
            {"lr": T([0.05]), "foreach": True},  # 1 元素但不是 0 维
            {"lr": 0.05, "betas": (T(0.8), 0.9)},
            {"lr": 0.05, "betas": (0.8, T(0.9)), "foreach": True},
            {"lr": 0.05, "weight_decay": T(0.1), "eps": T(1e-3)},
            {"lr": 0.05, "eps": 0.5, "foreach": True},
        ),
        state_dict_runs=({}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "foreach": True}),
        capturable_runs=({"weight_decay": 0.1}, {"lr": T(0.05), "maximize": True}),
        differentiable_runs=(
            {"weight_decay": 0.1},
            {"maximize": True},
            {"betas": (T(0.8, dtype=torch.float64), T(0.9))},
        ),
        differentiable_steps=1,
        gradcheck_steps=1,  # 连走多步后反传，torch 与我们都会报“被原地修改”
        differentiable_lr=False,  # torch 的 Adamax 在 differentiable 时拒绝 requires_grad 的张量 lr（见 bad）
        bad=(
            *LOOP_FOREACH_BAD,
            Bad({"lr": T(-1.0)}, ValueError),
            Bad({"eps": -1e-8}, ValueError),
            Bad({"betas": (1.0, 0.5)}, ValueError),
            Bad({"betas": (0.5, 1.0)}, ValueError),
            Bad({"betas": (-0.1, 0.5)}, ValueError),
            Bad({"betas": (T([0.9, 0.9]), T(0.9))}, RuntimeError),
            Bad({"weight_decay": -0.1}, ValueError),
            # torch 的 foreach（非 capturable）不支持张量 β
            Bad({"betas": (T(0.8), 0.9), "foreach": True}, TypeError, on="step"),
            DIFFERENTIABLE_TENSOR_LR,
        ),
        cuda_runs=_cuda_lazy(lambda: _family_cuda(lr=0.05, weight_decay=0.1)),
    ),
    OptimSpec(
        name="NAdam",
        lr=0.04,
        grid=with_decay(momentum_decay=[4e-3, 0.05], maximize=[False, True]),
        extra_dtypes=(torch.float32, torch.float64),
        extra_runs=(
            {"lr": T(0.04)},
            {"lr": T(0.04), "foreach": True},
            {"lr": T([0.04]), "foreach": True},
            {"lr": 0.04, "betas": (T(0.8), T(0.9))},
            {"lr": 0.04, "momentum_decay": T(0.05)},
            {"lr": 0.04, "weight_decay": T(0.1), "eps": T(1e-3)},
            {"lr": 0.04, "eps": 0.5, "foreach": True, "betas": (0.0, 0.5)},
        ),
        state_dict_runs=(
            {},
            {"weight_decay": 0.1, "decoupled_weight_decay": True},
            {"weight_decay": 0.1, "decoupled_weight_decay": True, "foreach": True},
        ),
        capturable_runs=(
            {"weight_decay": 0.1},
            {"lr": T(0.01), "weight_decay": 0.1, "decoupled_weight_decay": True},
            {"maximize": True, "momentum_decay": 0.05},
        ),
        differentiable_runs=(
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "decoupled_weight_decay": True},
            {"maximize": True},
        ),
        differentiable_steps=1,  # torch 在张量 lr 下连走多步后反传会报“被原地修改”
        bad=(
            *LOOP_FOREACH_BAD,
            Bad({"eps": -1e-8}, ValueError),
            Bad({"betas": (1.0, 0.5)}, ValueError),
            Bad({"betas": (0.5, 1.0)}, ValueError),
            Bad({"weight_decay": -0.1}, ValueError),
            Bad({"momentum_decay": -0.2}, ValueError),
            Bad({"momentum_decay": T(-0.2)}, ValueError),
            # torch 的 foreach（非 capturable）不支持这些张量超参数
            Bad({"betas": (T(0.8), 0.9), "foreach": True}, TypeError, on="step"),
            Bad({"betas": (0.8, T(0.9)), "foreach": True}, RuntimeError, on="step"),
            Bad({"momentum_decay": T(0.01), "foreach": True}, TypeError, on="step"),
        ),
        cuda_runs=_cuda_lazy(lambda: _family_cuda(lr=0.01, weight_decay=0.1)),
    ),
    OptimSpec(
        name="RAdam",
        lr=0.05,
        # β₂=0.999：第 6 步起 ρ_t > 5，前几步退化为动量 SGD；β₂=0.9：ρ∞=19，第 2 步就开始整流
        grid=with_decay(betas=[(0.9, 0.999), (0.8, 0.9)], maximize=[False, True]),
        extra_dtypes=(torch.float32, torch.float64),
        extra_runs=(
            {"lr": T(0.05)},
            {"lr": T(0.05), "foreach": True},
            {"lr": T([0.05]), "foreach": True},
            {"lr": 0.05, "betas": (T(0.8), T(0.9))},
            {"lr": 0.05, "betas": (T(0.8), 0.9), "foreach": True},
            {"lr": 0.05, "weight_decay": T(0.1), "eps": T(1e-3)},
            {"lr": 0.05, "betas": (0.9, 0.5), "foreach": True},  # ρ∞ = 3：永远不整流
        ),
        state_dict_runs=({}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "foreach": True}),
        capturable_runs=(
            {"weight_decay": 0.1},
            {"lr": T(0.05), "weight_decay": 0.1, "decoupled_weight_decay": True},
            {"maximize": True, "betas": (0.8, 0.9)},
            {"lr": T([0.05])},
        ),
        differentiable_runs=(
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "decoupled_weight_decay": True},
            {"maximize": True},
        ),
        differentiable_steps=8,  # 8 步：跨过整流开关
        bad=(
            *LOOP_FOREACH_BAD,
            Bad({"eps": -1e-8}, ValueError),
            Bad({"betas": (1.0, 0.5)}, ValueError),
            Bad({"betas": (0.5, 1.0)}, ValueError),
            Bad({"weight_decay": -1}, ValueError),
            Bad({"betas": (0.8, T(0.9)), "foreach": True}, RuntimeError, on="step"),
        ),
        cuda_runs=_cuda_lazy(
            lambda: _family_cuda(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)
        ),
    ),
    OptimSpec(
        name="ASGD",
        lr=0.02,
        # t0=5：第 6 步起 ax 开始真正求平均（mu < 1）；t0=1e6：ax 一直只是参数的拷贝
        grid=grid(lambd=[0, 0.1], t0=[5, 1e6], weight_decay=[0, 0.1], maximize=[False, True]),
        extra_dtypes=(torch.float32, torch.float64),
        extra_runs=(
            {"lr": T(0.02), "t0": 3},
            {"lr": T(0.02), "t0": 3, "foreach": True},
            {"lr": T([0.02]), "t0": 3},
            {"lr": 0.02, "alpha": 1.5, "lambd": 0.5, "t0": 0},
            {"lr": 0.02, "lambd": T(0.1), "alpha": T(0.6), "foreach": True},
            {"lr": 0.02, "weight_decay": T(0.1), "t0": T(4.0)},
            {"lr": 0.02, "lambd": -0.5, "alpha": -1.0, "t0": -3},  # torch 不检查这三个
        ),
        state_dict_runs=(
            {},
            {"lambd": 0.1, "t0": 5, "weight_decay": 0.1},
            {"lambd": 0.1, "t0": 5, "weight_decay": 0.1, "foreach": True},
        ),
        capturable_runs=(
            {"lambd": 0.1, "t0": 5, "weight_decay": 0.1, "maximize": True},
            {"lr": T(0.02), "lambd": 0.01, "t0": 3},
            {"lr": T([0.02]), "lambd": 0.01, "t0": 3},
        ),
        # foreach 版本与 torch 一样写成 θ - η(g + λθ)，所以各自对照 torch 的同一条路径
        capturable_reference="same",
        differentiable_runs=({"weight_decay": 0.1, "t0": 1}, {"maximize": True, "t0": 0}),
        differentiable_steps=4,
        differentiable_lr=False,  # torch 的 ASGD 用 eta.item() 更新参数，lr 的梯度不会流回去
        bad=(
            *LOOP_FOREACH_BAD,
            Bad({"lr": T(-1.0)}, ValueError),
            Bad({"weight_decay": -0.5}, ValueError),
        ),
        cuda_runs=_cuda_lazy(lambda: _family_cuda(lr=0.02, lambd=0.1, t0=5)),
    ),
    OptimSpec(
        name="LBFGS",
        lr=1.0,
        grid=grid(line_search_fn=[None, "strong_wolfe"], history_size=[100, 3], max_iter=[20, 4]),
        impls=(),
        closure=True,
        param_groups=False,
        grads="both",  # 稀疏梯度被转成稠密
        steps=6,  # 每个 step 内部最多迭代 max_iter 次、求值 max_eval 次
        extra_runs=(
            {"lr": 0.1},
            {"lr": T(0.5), "line_search_fn": "strong_wolfe"},
            {"lr": T([0.5])},
            {"tolerance_grad": 1e-3, "tolerance_change": 1e-4},
            {"max_iter": 7, "max_eval": 3, "line_search_fn": "strong_wolfe"},
            {"max_iter": 0},
            {"max_iter": 1},
            {"history_size": 1},
        ),
        sparse_runs=({"line_search_fn": "strong_wolfe"},),
        state_dict_runs=(
            {},
            {"line_search_fn": None, "max_iter": 3, "history_size": 4},
            {"line_search_fn": "strong_wolfe", "max_iter": 3, "history_size": 4},
        ),
        bad=(*COMMON_BAD, NO_FUSED),  # 线搜索名、历史长度、闭包与参数组的错误见 test_lbfgs.py
    ),
    OptimSpec(
        name="Muon",
        lr=0.02,
        grid=grid(
            nesterov=[True, False],
            adjust_lr_fn=[None, "original", "match_rms_adamw"],
            weight_decay=[0.0, 0.1],
            momentum=[0.0, 0.9],
        ),
        impls=(),
        shapes=((5, 4), (3, 7), (6, 6)),  # 只收二维参数：高、宽、方（转置与 adjust_lr 的各个分支）
        complex=False,
        extra_runs=(
            {"lr": T(0.01)},
            {"ns_steps": 6},
            {"ns_steps": 0},
            {"ns_coefficients": (3.4, -4.7, 2.0)},
            {"eps": 0.5},
        ),
        state_dict_runs=({}, {"adjust_lr_fn": "original", "ns_coefficients": (3.4, -4.7, 2.0)}),
        bad=(
            *COMMON_BAD,
            NO_FUSED,
            Bad({"weight_decay": -0.1}, ValueError),
            Bad({"momentum": -0.5}, ValueError),
            Bad({"adjust_lr_fn": "sqrt"}, ValueError),
            Bad({}, ValueError, shape=(3,)),
            Bad({}, ValueError, shape=(2, 2, 2)),
            Bad({}, ValueError, shape=()),
            Bad({}, RuntimeError, on="step", dtype=torch.complex64),
            Bad({"ns_steps": 100}, ValueError, on="step"),
            Bad({"ns_steps": 2.5}, TypeError, on="step"),
            Bad({"ns_coefficients": (1.0, 2.0)}, ValueError, on="step"),
        ),
    ),
    OptimSpec(
        name="Adafactor",
        lr=0.05,
        grid=grid(
            maximize=[False, True],
            weight_decay=[0.0, 0.1],
            beta2_decay=[-0.8, -1.0],
            eps=[(None, 1e-3), (1e-20, 1e-2)],
            d=[1.0, 1.5],
        ),
        shapes=((5, 4), (2, 3, 2), (7,), ()),  # 分解的二维、三维，不分解的一维、零维
        complex=False,
        extra_runs=(
            {},
            {"foreach": True},
            {"lr": T(0.05), "weight_decay": 0.1},
            {"lr": T(0.05), "weight_decay": 0.1, "foreach": True},
            {"lr": 0.5, "beta2_decay": 0.0},
            {"lr": 0.5, "beta2_decay": 0.0, "foreach": True},
            {"foreach": None},
        ),
        state_dict_runs=({}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "foreach": True}),
        bad=(
            *COMMON_BAD,
            NO_FUSED,
            Bad({"beta2_decay": 0.5}, ValueError),
            Bad({"eps": (-1.0, 1e-3)}, ValueError),
            Bad({"eps": (None, -1.0)}, ValueError),
            Bad({"d": 0.5}, ValueError),
            Bad({"weight_decay": -0.1}, ValueError),
            Bad({}, RuntimeError, on="step", dtype=torch.complex64),
            Bad({"foreach": True}, RuntimeError, on="step", dtype=torch.complex64),
            Bad({}, ZeroDivisionError, on="step", shape=(0, 3)),
            Bad({"foreach": True}, ZeroDivisionError, on="step", shape=(0,)),
        ),
    ),
    OptimSpec(
        name="SparseAdam",
        lr=0.05,
        grid=grid(maximize=[False, True], betas=[(0.9, 0.999), (0.5, 0.9)], eps=[1e-8, 1e-3]),
        impls=(),
        shapes=((10, 3), (6, 2)),  # 两张 embedding 表
        grads="sparse",
        complex=False,
        extra_runs=({"lr": T(0.05)},),
        state_dict_runs=({}, {"maximize": True}),
        bad=(
            Bad({"lr": 0.0}, ValueError),
            Bad({"lr": T([0.1, 0.2])}, ValueError),
            Bad({"eps": 0.0}, ValueError),
            Bad({"betas": (1.0, 0.9)}, ValueError),
            Bad({"betas": (0.9, -0.1)}, ValueError),
            Bad({}, ValueError, dtype=torch.complex64),
            NO_FUSED,
        ),
    ),
]

SPECS: dict[str, OptimSpec] = {spec.name: spec for spec in REGISTRY}
