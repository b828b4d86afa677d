"""Adagrad / RMSprop / Adadelta / Rprop 测试共用的检查：选项网格、state_dict 互通、错误类型、求导。

每个检查都同时运行 optlab 与 torch.optim，以 torch 的实际行为为准，不写死任何结果。
"""

from __future__ import annotations

import inspect

import pytest
import torch
from optim_test_support import CUDA, DTYPE_IDS, DTYPES, STEPS, through_disk, torch_twin  # noqa: F401
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

from optlab.testing import compare_with_torch, default_loss, make_params


def triples(combos):
    """每三个组合放进一次运行的三个参数组（默认参数恰好三个张量），每个组合都出现。"""
    return [tuple(combos[i : i + 3]) for i in range(0, len(combos), 3)]


def ids(runs):
    return ["|".join(",".join(f"{k}={v}" for k, v in c.items()) for c in run) for run in runs]


def run_groups(cls, combos, dtype, lr, **kwargs):
    """把若干组合分别作为参数组，与 torch 对照 STEPS 步（第 3、4、11 步第一个参数没有梯度）。"""
    groups = [dict(c, lr=lr * (1 + i) / 2) for i, c in enumerate(combos)]
    report = compare_with_torch(
        cls,
        {"lr": lr},
        groups=groups,
        steps=STEPS,
        dtype=dtype,
        skip_grad_steps=(3, 4, 11),
        **kwargs,
    )
    report.assert_ok()


# ---------------------------------------------------------------- 签名与默认值
def assert_same_signature(cls):
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(torch_twin(cls).__init__).parameters
    assert list(ours) == list(theirs)
    for name in theirs:
        assert ours[name].kind == theirs[name].kind, name
        assert ours[name].default == theirs[name].default, name


def assert_same_defaults(cls, **options):
    p = torch.zeros(2, requires_grad=True)
    ours, theirs = cls([p], **options), torch_twin(cls)([p], **options)
    assert list(ours.defaults.items()) == list(theirs.defaults.items())
    assert ours.state_dict()["param_groups"] == theirs.state_dict()["param_groups"]


# ---------------------------------------------------------------- state_dict 互通
def _train(opt, params, n):
    for _ in range(n):
        opt.zero_grad()
        default_loss(params).backward()
        opt.step()


def assert_state_dict_moves(src_cls, dst_cls, options, dtype=torch.float32, before=12, after=12):
    """src 训练若干步 → state_dict 存盘再读回 → 装进新的 dst → 两边继续训练，轨迹与状态须一致。"""
    src_params = make_params(dtype=dtype)
    src = src_cls([{"params": src_params[:1]}, {"params": src_params[1:], "lr": 0.02}], **options)
    _train(src, src_params, before)

    dst_params = [p.detach().clone().requires_grad_(True) for p in src_params]
    dst = dst_cls([{"params": dst_params[:1]}, {"params": dst_params[1:]}], **options)
    dst.load_state_dict(through_disk(src.state_dict()))
    assert dst.param_groups[1]["lr"] == 0.02

    _train(src, src_params, after)
    _train(dst, dst_params, after)
    torch.testing.assert_close(dst_params, src_params)
    src_state, dst_state = src.state_dict()["state"], dst.state_dict()["state"]
    assert src_state.keys() == dst_state.keys()
    for key in src_state:
        assert list(src_state[key]) == list(dst_state[key])  # 状态键与顺序相同
        for name in src_state[key]:
            torch.testing.assert_close(dst_state[key][name], src_state[key][name])


def assert_state_dict_round_trips(cls, options, dtype=torch.float32):
    assert_state_dict_moves(cls, torch_twin(cls), options, dtype)
    assert_state_dict_moves(torch_twin(cls), cls, options, dtype)


def assert_same_state_layout(cls, options, dtype=torch.float32):
    """一步之后 state 的键、dtype、形状、设备与 torch 相同。"""
    reports = []
    for c in (cls, torch_twin(cls)):
        params = make_params(dtype=dtype)
        opt = c(params, **options)
        _train(opt, params, 1)
        reports.append(
            {
                i: [(k, v.dtype, v.shape, v.device) for k, v in s.items()]
                for i, s in opt.state_dict()["state"].items()
            }
        )
    assert reports[0] == reports[1]


# ---------------------------------------------------------------- 错误输入
def raised_type(cls, kwargs, dtype=torch.float32, grad=None, shape=(3,)):
    """构造并走一步，返回抛出的异常类型（没有异常返回 None）。"""
    p = torch.randn(*shape, dtype=dtype, requires_grad=True)
    try:
        opt = cls([p], **kwargs)
        p.grad = torch.randn_like(p) if grad is None else grad
        opt.step()
    except Exception as err:  # noqa: BLE001 — 要比较的正是异常类型
        return type(err)
    return None


def assert_same_error(cls, kwargs, **extra):
    theirs = raised_type(torch_twin(cls), kwargs, **extra)
    assert theirs is not None, f"torch 接受了 {kwargs}，这不是一个错误输入"
    assert raised_type(cls, kwargs, **extra) is theirs


def optim_db_error_cases(cls):
    (info,) = [i for i in optim_db if i.optim_cls is torch_twin(cls)]
    return info.optim_error_inputs_func(device="cpu", dtype=torch.float32)


def assert_optim_db_error(cls, case):
    """torch 自带的错误输入表：同样的异常类型、同样能匹配的错误信息。"""
    inp = case.optimizer_error_input
    expect = pytest.warns if issubclass(case.error_type, Warning) else pytest.raises
    with expect(case.error_type, match=case.error_regex):
        opt = cls(inp.params, **inp.kwargs)
        if case.error_on == OptimizerErrorEnum.STEP_ERROR:
            opt.step()


# ---------------------------------------------------------------- 可求导的 step
def differentiable_grads(cls, options, steps=3):
    """differentiable=True 时走几步，返回损失对初始参数和对每步梯度的导数。"""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, dtype=torch.float64, generator=gen, requires_grad=True)
    grads = [
        torch.randn(6, dtype=torch.float64, generator=gen, requires_grad=True) for _ in range(steps)
    ]
    p = w.clone()
    opt = cls([p], differentiable=True, **options)
    for g in grads:
        p.grad = g
        opt.step()
    (p * torch.linspace(1.0, 2.0, 6, dtype=torch.float64)).sum().backward()
    return [w.grad, *(g.grad for g in grads)]


def assert_same_differentiable_grads(cls, options, steps=3):
    ours = differentiable_grads(cls, options, steps)
    theirs = differentiable_grads(torch_twin(cls), options, steps)
    assert all(g is not None for g in ours)
    torch.testing.assert_close(ours, theirs)


def assert_differentiable_gradcheck(cls, options, steps=3):
    """用有限差分检验：几步更新之后的参数对初始参数与各步梯度的导数是对的。"""
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


# ---------------------------------------------------------------- capturable 的数学路径
def assert_capturable_math(cls, options, dtype=torch.float64, tensor_lr=False):
    """CPU 上 torch 不允许 capturable；关掉设备断言后，我们的 capturable 路径应与 torch 普通路径同轨迹。"""

    class Unchecked(cls):
        def check_capturable_devices(self, group, params, steps):
            pass

    lr = 0.01
    ours_params, theirs_params = make_params(dtype=dtype), make_params(dtype=dtype)
    ours = Unchecked(
        ours_params, lr=torch.tensor(lr) if tensor_lr else lr, capturable=True, **options
    )
    theirs = torch_twin(cls)(theirs_params, lr=lr, **options)
    for _ in range(STEPS):
        _train(ours, ours_params, 1)
        _train(theirs, theirs_params, 1)
        torch.testing.assert_close(ours_params, theirs_params)
