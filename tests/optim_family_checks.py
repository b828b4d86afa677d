"""Adamax / NAdam / RAdam / ASGD 测试共用的检查：选项网格、state_dict 互通、报错类型、capturable 数学。

每个检查都同时运行 optlab 与 torch.optim，断言两边一致；本模块只被 ``tests/test_*.py`` 导入。
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import warnings

import pytest
import torch
from optim_test_support import CUDA, DTYPE_IDS, DTYPES, STEPS, through_disk, torch_twin  # noqa: F401

import optlab.optimizer as optlab_base
from optlab.testing import compare_with_torch, default_loss, make_params


def paired(options_grid):
    """两两配成两个参数组：每个组合都出现一次，同时检验“两组不同选项”。"""
    half = (len(options_grid) + 1) // 2
    return [(options_grid[i], options_grid[(i + half) % len(options_grid)]) for i in range(half)]


def pair_ids(pairs):
    return [f"{a}|{b}".replace(" ", "") for a, b in pairs]


def run_pair(cls, pair, dtype, lr, steps=STEPS):
    group_a, group_b = pair
    compare_with_torch(
        cls,
        {"lr": lr},
        groups=[dict(group_a), dict(group_b, lr=lr / 2)],
        steps=steps,
        dtype=dtype,
        skip_grad_steps=(3, 4, 11),
    ).assert_ok()


def with_dtype(options, dtype):
    """把选项里的张量超参数换成参数的 dtype。

    float32 的张量超参数配 float64 参数时，torch 的各条路径按 float32 舍入中间系数，
    轨迹只能对到 ~1e-7 的相对误差，正好卡在 float64 的容差上；实际使用也应让两者同 dtype。
    """

    def cast(v):
        if isinstance(v, torch.Tensor):
            return v.to(dtype)
        if isinstance(v, tuple):
            return tuple(cast(x) for x in v)
        return v

    return {k: cast(v) for k, v in options.items()}


# ---------------------------------------------------------------- 签名与默认值
def check_signature_and_defaults(cls):
    """参数名、种类（位置/仅关键字）、默认值与 torch 相同；defaults 的键顺序也相同。"""
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(torch_twin(cls).__init__).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]
    params = [torch.zeros(2, requires_grad=True)]
    assert list(cls(params).defaults.items()) == list(torch_twin(cls)(params).defaults.items())


def check_state_layout(cls, options, dtype=torch.float32):
    """一步之后状态的键、dtype、形状、设备与 torch 完全相同。"""
    states = []
    for lib_cls in (cls, torch_twin(cls)):
        p = make_params(((3, 2),), dtype=dtype)[0]
        opt = lib_cls([p], **options)
        p.grad = torch.ones_like(p)
        opt.step()
        states.append(
            {k: (v.dtype, v.shape, v.device, v.requires_grad) for k, v in opt.state[p].items()}
        )
    assert list(states[0].items()) == list(states[1].items())


# ---------------------------------------------------------------- state_dict 互通
def _trajectory(opt, params, steps):
    for _ in range(steps):
        opt.zero_grad()
        default_loss(params).backward()
        opt.step()


def check_state_dict_round_trip(cls, options, dtype=torch.float32, half=12):
    """中途把 state_dict 在 optlab 与 torch 之间来回搬（经 torch.save/torch.load），轨迹不变。"""
    groups = [{}, {"lr": options.get("lr", 0.01) / 2}]

    def fresh(lib_cls):
        params = make_params(dtype=dtype)
        split = [{"params": params[:1], **groups[0]}, {"params": params[1:], **groups[1]}]
        return params, lib_cls(split, **options)

    ref_params, ref = fresh(torch_twin(cls))
    _trajectory(ref, ref_params, 2 * half)

    for first, second in ((cls, torch_twin(cls)), (torch_twin(cls), cls), (cls, cls)):
        params, opt = fresh(first)
        _trajectory(opt, params, half)
        saved = through_disk(opt.state_dict())
        moved = [p.detach().clone().requires_grad_() for p in params]
        target = second(
            [{"params": moved[:1], **groups[0]}, {"params": moved[1:], **groups[1]}], **options
        )
        target.load_state_dict(saved)
        assert target.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
        _trajectory(target, moved, half)
        torch.testing.assert_close(moved, ref_params)
        torch.testing.assert_close(target.state_dict()["state"], ref.state_dict()["state"])


# ---------------------------------------------------------------- 报错
def _outcome(fn):
    """运行 fn，返回抛出的异常类型（没有异常则为 None）。"""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except Exception as err:  # noqa: BLE001 - 这里要记录任何异常的类型
        return type(err)
    return None


def check_error_matches_torch(cls, kwargs, *, on_step=False, params=None):
    """同一个非法输入，两边抛出同一种异常（构造时或 step 时）。"""
    outcomes = []
    for lib_cls in (cls, torch_twin(cls)):

        def attempt(lib_cls=lib_cls):
            ps = params() if params is not None else [torch.randn(3, requires_grad=True)]
            opt = lib_cls(ps, **kwargs)
            if on_step:
                for p in ps if isinstance(ps, list) else [ps]:
                    if isinstance(p, torch.Tensor):
                        p.grad = torch.ones_like(p)
                opt.step()

        outcomes.append(_outcome(attempt))
    assert outcomes[1] is not None, f"torch 接受了 {kwargs}，这不是报错用例"
    assert outcomes[0] is outcomes[1], f"{kwargs}: optlab {outcomes[0]} vs torch {outcomes[1]}"


def check_optim_db_errors(cls):
    """torch 自带的报错用例表（optim_db）里的每一条，optlab 抛同一种异常。"""
    from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

    info = next(i for i in optim_db if i.optim_cls is torch_twin(cls))
    cases = info.optim_error_inputs_func(device="cpu", dtype=torch.float32)
    assert cases
    for case in cases:
        error_input = case.optimizer_error_input

        def attempt(error_input=error_input, case=case):
            opt = cls(error_input.params, **error_input.kwargs)
            if case.error_on == OptimizerErrorEnum.STEP_ERROR:
                opt.step()

        if issubclass(case.error_type, Warning):  # 例如参数重复：torch 只是警告
            with pytest.warns(case.error_type, match=case.error_regex):
                attempt()
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(case.error_type):
                attempt()


# ---------------------------------------------------------------- capturable
def check_capturable_on_cpu_asserts(cls, foreach):
    for lib_cls in (cls, torch_twin(cls)):
        p = torch.randn(3, requires_grad=True)
        p.grad = torch.ones(3)
        opt = lib_cls([p], capturable=True, foreach=foreach)
        with pytest.raises(AssertionError, match="capturable=True"):
            opt.step()


@contextlib.contextmanager
def capturable_allowed_on_cpu(module_name):
    """临时把 CPU 算作“支持图捕获”的设备（两边都改），以便在没有 GPU 时检验 capturable 的数学。"""
    torch_module = importlib.import_module(f"torch.optim.{module_name}")
    old_torch = torch_module._get_capturable_supported_devices
    old_ours = optlab_base._CAPTURABLE_DEVICES
    torch_module._get_capturable_supported_devices = lambda supports_xla=True: [
        "cuda",
        "xpu",
        "hpu",
        "cpu",
    ]
    optlab_base._CAPTURABLE_DEVICES = (*old_ours, "cpu")
    try:
        yield
    finally:
        torch_module._get_capturable_supported_devices = old_torch
        optlab_base._CAPTURABLE_DEVICES = old_ours


def loop_twin(cls):
    """torch 的同名优化器，但总走 for-loop 路径（用作 capturable foreach 数学的参照）。"""
    base = torch_twin(cls)

    class LoopTwin(base):
        def __init__(self, params, **kwargs):
            super().__init__(params, **dict(kwargs, foreach=False))

    return LoopTwin


def check_capturable_math(cls, module_name, options, dtype, foreach, *, against_loop=True):
    """capturable=True 的张量化路径（在 CPU 上放行）与 torch 的 capturable 轨迹一致。

    默认拿 torch 的 for-loop 作参照：torch 的 foreach capturable 路径把若干系数按 float32
    的 step 精度先乘在一起，float64 参数下与它自己的 for-loop 就差 ~1e-7。
    ``against_loop=False`` 时参照 torch 同一条路径（公式写法与 for-loop 不同的算法用）。
    """
    with capturable_allowed_on_cpu(module_name):
        report = compare_with_torch(
            cls,
            dict(options, capturable=True, foreach=foreach),
            torch_optimizer=loop_twin(cls) if against_loop else None,
            steps=STEPS,
            dtype=dtype,
            skip_grad_steps=(3,),
        )
    report.assert_ok()


# ---------------------------------------------------------------- differentiable
def check_differentiable(cls, options, *, steps=1, tensor_lr=True):
    """differentiable=True：对参数的更新前取值（以及 lr 张量）求导，结果与 torch 相同。

    torch 的 differentiable 路径会原地改状态，多步之后反传常因版本号报错，所以默认只走一步
    （torch 自己的测试也是单步 gradcheck）。
    """
    grads = []
    for lib_cls in (cls, torch_twin(cls)):
        gen = torch.Generator().manual_seed(0)
        start = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
        lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True) if tensor_lr else 0.1
        param = start.clone()  # 非叶子：differentiable=True 时允许
        opt = lib_cls([param], lr=lr, differentiable=True, **options)
        for _ in range(steps):
            param.grad = (param.detach() - 0.5) * 2
            opt.step()
        (param**2).sum().backward()
        lr_grad = lr.grad.clone() if tensor_lr and lr.grad is not None else None
        grads.append((start.grad.clone(), lr_grad))
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[0][0].abs().sum() > 0
    if tensor_lr:
        assert grads[0][1] is not None and grads[0][1].abs() > 0


CUDA_VARIANTS = [
    {"foreach": False},
    {"foreach": True},
    {"capturable": True, "foreach": False},
    {"capturable": True, "foreach": True},
    {"capturable": True, "foreach": True, "tensor_lr": True},
    {"capturable": True, "foreach": False, "tensor_lr": True, "maximize": True},
]


def check_cuda_variant(cls, variant, base_options):
    """在 CUDA 上对照：默认 foreach、capturable 的真实张量路径、设备上的张量 lr。"""
    options = dict(base_options, **variant)
    if options.pop("tensor_lr", False):
        options["lr"] = torch.tensor(options.get("lr", 0.01), device="cuda")
    for dtype in (torch.float32, torch.float64):
        compare_with_torch(cls, options, steps=STEPS, device="cuda", dtype=dtype).assert_ok()


def check_default_dtype_float64(cls, options):
    """默认 dtype 为 float64 时，标量状态（step 等）也跟着变成 float64。"""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        compare_with_torch(cls, options, steps=10, dtype=torch.float64).assert_ok()
        check_state_layout(cls, options, dtype=torch.float64)
    finally:
        torch.set_default_dtype(old)
