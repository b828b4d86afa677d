"""用 torch 自己的测试数据库 optim_db 扫一遍：optlab 已导出的每个优化器，

* 每个 ``optim_inputs_func`` 配置（for-loop / foreach / CPU 上支持时的 fused，fp32 与 fp64）都与 torch 逐步对照；
* 每个 ``optim_error_inputs_func`` 错误输入都在同一阶段（构造或 step）抛出同类型的异常（或警告），
  信息能匹配 torch 写下的正则。

optlab 每多导出一个算法，这里自动多出一批用例。
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from optim_registry import SPECS
from optim_test_support import compare
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

import optlab

STEPS = 15
INFOS = [info for info in optim_db if hasattr(optlab, info.optim_cls.__name__)]


def _impl_flags(info):
    """与 torch 的 _get_optim_inputs_including_global_cliquey_kwargs 一样展开互斥的实现开关，
    只是 CPU 上也跑 foreach（torch 的 foreach 在 CPU 上就是逐张量循环，照样可以对照）。"""
    flags = [{}]
    if "foreach" in info.supported_impls:
        flags = [{"foreach": False}, {"foreach": True}]
    if "fused" in info.supported_impls and "cpu" in info.supports_fused_on:
        flags.append({"fused": True})
    return flags


def _cases():
    cases = []
    for info in INFOS:
        name = info.optim_cls.__name__
        for dtype in (torch.float32, torch.float64):
            for i, optim_input in enumerate(info.optim_inputs_func(device="cpu", dtype=dtype)):
                for flag in _impl_flags(info):
                    label = ",".join(f"{k}={v}" for k, v in flag.items()) or "default"
                    cases.append(
                        pytest.param(
                            info,
                            i,
                            flag,
                            dtype,
                            id=f"{name}-{i}-{optim_input.desc}-{label}-{str(dtype)[6:]}",
                        )
                    )
    return cases


def _error_cases():
    cases = []
    for info in INFOS:
        if info.optim_error_inputs_func is None:
            continue
        errors = info.optim_error_inputs_func(device="cpu", dtype=torch.float32)
        for i, error_input in enumerate(errors):
            desc = error_input.optimizer_error_input.desc
            cases.append(pytest.param(info, i, id=f"{info.optim_cls.__name__}-{i}-{desc}"))
    return cases


def _construction_error(cls, kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls([torch.zeros(2, requires_grad=True)], **kwargs)
    except Exception as err:  # noqa: BLE001 - 比较的正是异常类型
        return type(err)
    return None


@pytest.mark.parametrize("info, index, flag, dtype", _cases())
def test_optim_inputs_match_torch(info, index, flag, dtype):  # 单线程：conftest 的 single_thread
    name = info.optim_cls.__name__
    optim_input = info.optim_inputs_func(device="cpu", dtype=dtype)[index]
    kwargs = dict(optim_input.kwargs, **flag)
    ours = getattr(optlab, name)
    # 某些组合（例如张量 lr + foreach）torch 在构造时就拒绝：optlab 也必须以同类型拒绝
    expected = _construction_error(info.optim_cls, kwargs)
    if expected is not None:
        assert _construction_error(ours, kwargs) is expected
        return
    # 参数形状、稀疏梯度、闭包都按登记表来（Muon 只收矩阵，SparseAdam 只收稀疏梯度……）
    spec = SPECS[name]
    assert spec.closure == info.step_requires_closure
    assert (spec.grads == "sparse") == info.only_supports_sparse_grads
    # LBFGS 每步内部多次调用闭包，5 步已覆盖其历史缓冲的更新与截断
    compare(spec, kwargs, dtype=dtype, steps=5 if spec.closure else STEPS)


def _raised(cls, info, index):
    """在新建的错误输入上运行 cls，返回 (阶段, 异常或警告类型, 信息)。"""
    error_input = info.optim_error_inputs_func(device="cpu", dtype=torch.float32)[index]
    case = error_input.optimizer_error_input
    is_warning = issubclass(error_input.error_type, Warning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            optimizer = cls(case.params, **case.kwargs)
        except Exception as err:  # noqa: BLE001
            return OptimizerErrorEnum.CONSTRUCTION_ERROR, type(err), str(err)
        if is_warning and caught:
            return (
                OptimizerErrorEnum.CONSTRUCTION_ERROR,
                caught[-1].category,
                str(caught[-1].message),
            )
        try:
            if info.step_requires_closure:
                optimizer.step(lambda: torch.tensor(0.0))
            else:
                optimizer.step()
        except Exception as err:  # noqa: BLE001
            return OptimizerErrorEnum.STEP_ERROR, type(err), str(err)
        if is_warning and caught:
            return OptimizerErrorEnum.STEP_ERROR, caught[-1].category, str(caught[-1].message)
    return None, None, ""


@pytest.mark.parametrize("info, index", _error_cases())
def test_error_inputs_raise_like_torch(info, index):
    error_input = info.optim_error_inputs_func(device="cpu", dtype=torch.float32)[index]
    ours = _raised(getattr(optlab, info.optim_cls.__name__), info, index)
    theirs = _raised(info.optim_cls, info, index)
    assert theirs[0] == error_input.error_on and issubclass(
        theirs[1] or type(None), error_input.error_type
    ), f"torch 自己的行为变了：{theirs}"
    assert ours[0] == theirs[0], f"阶段不同：optlab {ours}，torch {theirs}"
    assert ours[1] is not None and issubclass(ours[1], error_input.error_type), (
        f"optlab 抛 {ours[1]}，期望 {error_input.error_type}"
    )
    assert re.search(error_input.error_regex, ours[2]), (
        f"信息不匹配 {error_input.error_regex!r}：{ours[2]}"
    )


def test_sweep_covers_every_exported_optimizer():
    exported = {name for name in dir(torch.optim) if hasattr(optlab, name)}
    swept = {info.optim_cls.__name__ for info in INFOS}
    optimizers = {
        n for n in exported if isinstance(getattr(torch.optim, n), type) and n != "Optimizer"
    }
    assert optimizers <= swept | {"lr_scheduler", "swa_utils"}
    assert {"SGD", "Adam", "AdamW"} <= swept
