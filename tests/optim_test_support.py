"""优化器测试共用的设置与工具（唯一的一处）：STEPS/DTYPES/CUDA、选项网格、torch 的同名优化器、
经磁盘往返的 state_dict、按登记表建参数与损失、与 torch 逐步对照、捕获异常的阶段与类型。

单线程与固定随机种子的 fixture 在 conftest.py 里，对所有测试生效。
"""

from __future__ import annotations

import contextlib
import importlib
import io
import itertools
import pkgutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import torch.optim

import optlab
import optlab.optimizer as optlab_base
from optlab.testing import compare_with_torch, default_loss

#: 优化器测试共用的设置：默认步数、dtype 网格与 id、没有 CUDA 时跳过的标记
STEPS = 30
DTYPES = [torch.float32, torch.float64, torch.complex64]
DTYPE_IDS = ["fp32", "fp64", "c64"]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="需要 CUDA 设备")
#: 这些步里第一个参数没有梯度（grad=None），检验“无梯度就不动”
SKIP_GRAD_STEPS = (3, 4, 11)
#: 实现开关的名字 → 选项
IMPL_OPTIONS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def dtype_id(dtype: torch.dtype) -> str:
    return DTYPE_IDS[DTYPES.index(dtype)]


def grid(**axes):
    """选项的完整笛卡尔积。"""
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


def torch_twin(cls):
    """optlab 类对应的 torch.optim 类（按类名）。"""
    return getattr(torch.optim, cls.__name__)


def ours(spec):
    return getattr(optlab, spec.name)


def through_disk(state_dict):
    """torch.save 再 torch.load(weights_only=True)：与真实的检查点一样走一遍序列化。"""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def with_dtype(options, dtype):
    """把选项里的张量超参数换成参数的（实数）dtype。

    float32 的张量超参数配 float64 参数时，torch 的各条路径按 float32 舍入中间系数，
    轨迹只能对到 ~1e-7 的相对误差，正好卡在 float64 的容差上；实际使用也应让两者同 dtype。
    """

    def cast(v):
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            return v.to(dtype.to_real())
        if isinstance(v, tuple):
            return tuple(cast(x) for x in v)
        return v

    return {k: cast(v) for k, v in options.items()}


# ---------------------------------------------------------------- 按登记表建参数与损失
@dataclass
class Problem:
    """一个对照实验：``params()`` 建参数，``loss(params, k)`` 是第 k 步的损失，``closure`` 表示用闭包。"""

    params: Callable[[], list[torch.Tensor]]
    loss: Callable[[list[torch.Tensor], int], torch.Tensor]
    closure: bool = False


#: 兼收稠密与稀疏梯度的算法做稀疏对照时的参数：一张 embedding 表（稀疏梯度）+ 一个向量（稠密梯度）
MIXED_SHAPES = ((10, 3), (4,))


def _sparse_loss(params, k, fixed_rows):
    """二维参数当 embedding 表取行（sparse=True：稀疏梯度，常有重复行），其余参数走稠密损失。"""
    gen = torch.Generator().manual_seed(0 if fixed_rows else k)
    total = 0.0
    for p in params:
        if p.dim() != 2:
            total = total + default_loss([p])
            continue
        rows = torch.randint(0, p.shape[0], (5,), generator=gen)
        e = F.embedding(rows, p, sparse=True)
        total = total + ((e - 0.3) ** 2).sum() + 0.1 * torch.sin(3 * e).sum()
    return total


def problem(spec, dtype=torch.float32, *, sparse=None, device="cpu") -> Problem:
    """登记表里的算法该怎样建参数、算损失：形状、是否稀疏梯度、是否闭包。"""
    sparse = spec.grads == "sparse" if sparse is None else sparse
    shapes = spec.shapes if spec.grads == "sparse" or not sparse else MIXED_SHAPES

    def params():
        gen = torch.Generator().manual_seed(0)
        real = dtype.to_real()
        out = []
        for shape in shapes:  # 与 make_params 相同，只是也接受零维形状 ()
            x = torch.randn((*shape, 2) if dtype.is_complex else shape, generator=gen, dtype=real)
            out.append(
                (torch.view_as_complex(x) if dtype.is_complex else x).to(device).requires_grad_()
            )
        return out

    if not sparse:
        return Problem(params, lambda ps, k: default_loss(ps), spec.closure)
    # 闭包里一步要多次求值，行必须固定；否则每步换一批行
    return Problem(params, lambda ps, k: _sparse_loss(ps, k, spec.closure), spec.closure)


def compare(spec, options, *, dtype=torch.float32, prob=None, groups=None, steps=None, **kwargs):
    """与 torch 逐步对照并断言一致。``compare_with_torch`` 按“我们一步、torch 一步”调用损失，
    所以（不用闭包时）第 n 次调用属于第 n // 2 步。"""
    prob = prob or problem(spec, dtype)
    calls = [0]

    def loss_fn(ps):
        k = calls[0] // 2
        calls[0] += 1
        return prob.loss(ps, k)

    report = compare_with_torch(
        ours(spec),
        options,
        params=prob.params,
        loss_fn=loss_fn,
        steps=steps or spec.steps,
        dtype=dtype,
        groups=groups,
        use_closure=prob.closure,
        **kwargs,
    )
    report.assert_ok()
    return report


def train(opt, params, prob: Problem, ks):
    """按第 k 步的损失训练（需要时用闭包）。"""
    for k in ks:

        def closure(k=k):
            opt.zero_grad()
            loss = prob.loss(params, k)
            loss.backward()
            return loss

        if prob.closure:
            opt.step(closure)
        else:
            closure()
            opt.step()


def split_groups(spec, params, lr=None):
    """两个参数组（第二组 lr 减半，检验各组选项都被保存）；只许一个组的算法原样返回。"""
    if not spec.param_groups or len(params) < 2:
        return params
    return [{"params": params[:1]}, {"params": params[1:], "lr": (lr or spec.lr) / 2}]


# ---------------------------------------------------------------- 异常
def outcome(construct, step) -> tuple[str | None, type | None, str]:
    """先 ``opt = construct()`` 再 ``step(opt)``，返回 (阶段 "init"/"step"/None, 异常类型, 信息)。"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            opt = construct()
        except Exception as err:  # noqa: BLE001 — 要比较的正是异常类型
            return "init", type(err), str(err)
        try:
            step(opt)
        except Exception as err:  # noqa: BLE001
            return "step", type(err), str(err)
    return None, None, ""


# ---------------------------------------------------------------- differentiable
def differentiable_grads(cls, options, steps, lr_tensor):
    """differentiable=True 时走几步，返回损失对初始参数、对每步梯度（以及对张量 lr）的导数。"""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, dtype=torch.float64, generator=gen, requires_grad=True)
    grads = [
        torch.randn(6, dtype=torch.float64, generator=gen, requires_grad=True) for _ in range(steps)
    ]
    lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True) if lr_tensor else 0.1
    p = w.clone()  # 非叶子：differentiable=True 时允许原地更新
    opt = cls([p], lr=lr, differentiable=True, **options)
    for g in grads:
        p.grad = g
        opt.step()
    (p * torch.linspace(1.0, 2.0, 6, dtype=torch.float64)).sum().backward()
    return [w.grad, *(g.grad for g in grads)] + ([lr.grad] if lr_tensor else [])


def assert_differentiable_gradcheck(cls, options, steps):
    """有限差分检验：连走 ``steps`` 步之后，参数对初始参数与各步梯度的导数是对的。"""
    weights = torch.linspace(1.0, 2.0, 4, dtype=torch.float64)

    def unrolled(w, *grads):
        p = w.clone()
        opt = cls([p], differentiable=True, **options)
        for g in grads:
            p.grad = g
            opt.step()
        return (p * weights).sum()

    gen = torch.Generator().manual_seed(0)
    inputs = [
        torch.randn(4, dtype=torch.float64, generator=gen, requires_grad=True)
        for _ in range(steps + 1)
    ]
    assert torch.autograd.gradcheck(unrolled, inputs)


# ---------------------------------------------------------------- capturable 在 CPU 上的数学路径
@contextlib.contextmanager
def capturable_allowed_on_cpu():
    """临时把 CPU 算作“支持图捕获”的设备（两边都改），以便在没有 GPU 时检验 capturable 的数学。"""
    patched = []
    for info in pkgutil.iter_modules(torch.optim.__path__):
        module = importlib.import_module(f"torch.optim.{info.name}")
        if hasattr(module, "_get_capturable_supported_devices"):
            patched.append((module, module._get_capturable_supported_devices))
            module._get_capturable_supported_devices = lambda supports_xla=True: [
                "cuda",
                "xpu",
                "hpu",
                "cpu",
            ]
    old_ours = optlab_base._CAPTURABLE_DEVICES
    optlab_base._CAPTURABLE_DEVICES = (*old_ours, "cpu")
    try:
        yield
    finally:
        for module, original in patched:
            module._get_capturable_supported_devices = original
        optlab_base._CAPTURABLE_DEVICES = old_ours


def loop_twin(cls):
    """torch 的同名优化器，但总走 for-loop 路径（用作 capturable foreach 数学的参照）。"""
    base = torch_twin(cls)

    class LoopTwin(base):
        def __init__(self, params, **kwargs):
            super().__init__(params, **dict(kwargs, foreach=False))

    return LoopTwin


def state_layout(opt) -> tuple[Any, Any]:
    """state_dict 的“形状”：每个状态的键（按顺序）、类型、dtype、形状、设备、requires_grad；各组的键。"""

    def describe(v):
        if isinstance(v, torch.Tensor):
            return (v.dtype, tuple(v.shape), v.device, v.layout, v.requires_grad)
        return type(v).__name__

    sd = opt.state_dict()
    state = {i: [(k, describe(v)) for k, v in s.items()] for i, s in sd["state"].items()}
    return state, [list(g) for g in sd["param_groups"]]
