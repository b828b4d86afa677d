"""LBFGS / SparseAdam / Adafactor / Muon 测试共用的检查。

这四个算法各有特殊之处（必须用闭包、只收稀疏梯度、只收二维参数……），所以每个检查都接受一个
``Setup``：怎样建参数、损失怎样依赖步号、是否用闭包。每个检查都同时运行 optlab 与 torch.optim，
以 torch 的实际行为为准，不写死任何结果。
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from optim_test_support import through_disk, torch_twin
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

from optlab.testing import compare_with_torch


@dataclass
class Setup:
    """一个对照实验：``params()`` 建参数，``loss(params, k)`` 是第 k 步的损失。"""

    params: Callable[[], list[torch.Tensor]]
    loss: Callable[[list[torch.Tensor], int], torch.Tensor]
    use_closure: bool = False


def triples(combos):
    """每三个组合一组：一次运行里放进三个参数组，每个组合都出现。"""
    return [combos[i : i + 3] for i in range(0, len(combos), 3)]


def triple_ids(combos):
    return "|".join(label(c) for c in combos)


def label(options):
    return ",".join(f"{k}={v}" for k, v in options.items()) or "default"


# ---------------------------------------------------------------- 逐步对照
def compare(cls, setup: Setup, options, *, steps=30, dtype=torch.float32, **kwargs):
    """用 ``compare_with_torch`` 对照；它按“我们一步、torch 一步”的顺序调用损失，
    所以第 k 次调用对应第 k // 2 步。"""
    calls = [0]

    def loss_fn(ps):
        k = calls[0] // 2
        calls[0] += 1
        return setup.loss(ps, k)

    report = compare_with_torch(
        cls,
        options,
        params=setup.params,
        loss_fn=loss_fn,
        steps=steps,
        dtype=dtype,
        use_closure=setup.use_closure,
        **kwargs,
    )
    report.assert_ok()
    return report


# ---------------------------------------------------------------- 签名与默认值
def assert_same_signature_and_defaults(cls, params):
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(torch_twin(cls).__init__).parameters
    assert list(ours) == list(theirs)
    for name in theirs:
        assert ours[name].kind == theirs[name].kind, name
        assert ours[name].default == theirs[name].default, name
    a, b = cls(params()), torch_twin(cls)(params())
    assert list(a.defaults.items()) == list(b.defaults.items())
    assert a.state_dict()["param_groups"] == b.state_dict()["param_groups"]


# ---------------------------------------------------------------- 状态比较
def assert_tree_close(a, b, where="state"):
    """嵌套的 dict / list / 张量 / 数逐项比较：结构与类型相同，数值满足 assert_close 默认容差。"""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape, a.device) == (b.dtype, b.shape, b.device), where
        torch.testing.assert_close(a, b, msg=lambda m: f"{where}: {m}")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: 键或顺序不同 {list(a)} vs {list(b)}"
        for k in a:
            assert_tree_close(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_tree_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        torch.testing.assert_close(a, b, msg=lambda m: f"{where}: {m}")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def _train(opt, params, setup: Setup, ks):
    for k in ks:

        def closure(k=k):
            opt.zero_grad()
            loss = setup.loss(params, k)
            loss.backward()
            return loss

        if setup.use_closure:
            opt.step(closure)
        else:
            closure()
            opt.step()


def assert_state_dict_moves(src_cls, dst_cls, setup: Setup, options, *, before=6, after=6):
    """src 训练若干步 → state_dict 存盘读回 → 装进新的 dst → 两边继续训练，轨迹与状态须一致。"""
    src_params = setup.params()
    src = src_cls(src_params, **options)
    _train(src, src_params, setup, range(before))

    dst_params = [p.detach().clone().requires_grad_(True) for p in src_params]
    dst = dst_cls(dst_params, **options)
    dst.load_state_dict(through_disk(src.state_dict()))
    assert_tree_close(dst.state_dict(), src.state_dict())

    _train(src, src_params, setup, range(before, before + after))
    _train(dst, dst_params, setup, range(before, before + after))
    torch.testing.assert_close(dst_params, src_params)
    assert_tree_close(dst.state_dict()["state"], src.state_dict()["state"])


def assert_state_dict_round_trips(cls, setup: Setup, options, **kwargs):
    assert_state_dict_moves(cls, torch_twin(cls), setup, options, **kwargs)
    assert_state_dict_moves(torch_twin(cls), cls, setup, options, **kwargs)


def assert_same_state_layout(cls, setup: Setup, options, steps=2):
    """几步之后 state 的结构、键顺序、类型、dtype、形状与 torch 相同。"""
    dicts = []
    for c in (cls, torch_twin(cls)):
        params = setup.params()
        opt = c(params, **options)
        _train(opt, params, setup, range(steps))
        dicts.append(opt.state_dict())
    assert_tree_close(dicts[0], dicts[1])


# ---------------------------------------------------------------- 错误输入
def outcome(fn):
    """运行 fn，返回抛出的异常类型（没有异常返回 None）。"""
    try:
        fn()
    except Exception as err:  # noqa: BLE001 — 要比较的正是异常类型
        return type(err)
    return None


def assert_same_error(cls, build: Callable[[type], object]):
    """``build(cls)`` 构造优化器并（按需）走一步；optlab 与 torch 抛同类型的异常。"""
    theirs = outcome(lambda: build(torch_twin(cls)))
    assert theirs is not None, "torch 接受了这个输入，它不是错误输入"
    assert outcome(lambda: build(cls)) is theirs


def optim_db_error_cases(cls):
    (info,) = [i for i in optim_db if i.optim_cls is torch_twin(cls)]
    return info.optim_error_inputs_func(device="cpu", dtype=torch.float32)


def assert_optim_db_error_like_torch(cls, index, closure=None):
    """torch 自带的错误输入表：同一阶段、同类型的异常（或警告），信息能匹配 torch 的正则。"""
    case = optim_db_error_cases(cls)[index]
    if issubclass(case.error_type, Warning):
        for c in (cls, torch_twin(cls)):
            inp = optim_db_error_cases(cls)[index].optimizer_error_input
            with pytest.warns(case.error_type, match=case.error_regex):
                c(inp.params, **inp.kwargs)
        return
    ours = optim_db_outcome(cls, optim_db_error_cases(cls)[index], closure)
    theirs = optim_db_outcome(torch_twin(cls), optim_db_error_cases(cls)[index], closure)
    assert ours[:2] == theirs[:2] == (case.error_on, case.error_type), (ours, theirs)
    assert re.search(case.error_regex, ours[2]), ours[2]


def optim_db_outcome(cls, case, closure=None):
    """在 torch 自带的错误输入上运行，返回 (阶段, 异常类型, 信息)。"""
    inp = case.optimizer_error_input
    try:
        opt = cls(inp.params, **inp.kwargs)
    except Exception as err:  # noqa: BLE001
        return OptimizerErrorEnum.CONSTRUCTION_ERROR, type(err), str(err)
    try:
        opt.step(closure) if closure is not None else opt.step()
    except Exception as err:  # noqa: BLE001
        return OptimizerErrorEnum.STEP_ERROR, type(err), str(err)
    return None, None, ""
