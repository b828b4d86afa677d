"""差分测试的小工具：同一个场景分别用 torch.optim 与 optlab 跑，比较结果或异常。

场景是一个函数 ``scenario(L)``，``L`` 是 :data:`TORCH` 或 :data:`OPTLAB`：
``L.optim``（torch.optim 或 optlab）、``L.lr_scheduler``、``L.swa_utils``。
:func:`assert_same` 要求两边要么都正常返回且结果相等（浮点与张量按容差比较），
要么抛出同一类型的异常、且信息相近（``difflib`` 相似度不低于阈值）。
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

import optlab


@dataclass(frozen=True)
class Lib:
    name: str
    optim: ModuleType
    lr_scheduler: ModuleType
    swa_utils: ModuleType


TORCH = Lib("torch", torch.optim, torch.optim.lr_scheduler, torch.optim.swa_utils)
OPTLAB = Lib("optlab", optlab, optlab.lr_scheduler, optlab.swa_utils)


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    exc_type: type | None = None
    message: str = ""
    warnings: tuple = ()


def run(scenario, lib: Lib) -> Outcome:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = scenario(lib)
        except Exception as exc:  # noqa: BLE001
            return Outcome(False, exc_type=type(exc), message=str(exc))
    return Outcome(True, value=value, warnings=tuple(sorted({w.category.__name__ for w in caught})))


def same_value(a: Any, b: Any, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """递归比较：张量按容差（形状、dtype 相同）；浮点按容差（nan 等于 nan）；其余用 ==。"""
    if isinstance(a, torch.optim.Optimizer) and isinstance(b, torch.optim.Optimizer):
        return repr(a) == repr(b)
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same_value(x, y, rtol, atol) for x, y in zip(a, b))
        )
    return a == b


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def assert_same(
    scenario,
    *,
    min_similarity: float = 0.85,
    check_warnings: bool = True,
    check_message: bool = True,
) -> Outcome:
    """两边结果相同，或抛同类型、信息相近的异常；返回 torch 一边的结果。"""
    theirs, ours = run(scenario, TORCH), run(scenario, OPTLAB)
    label = getattr(scenario, "__name__", str(scenario))
    if theirs.ok != ours.ok:
        raise AssertionError(
            f"{label}: torch {'returned' if theirs.ok else 'raised'} "
            f"{theirs.value if theirs.ok else theirs.exc_type.__name__ + ': ' + theirs.message}; "
            f"optlab {'returned' if ours.ok else 'raised'} "
            f"{ours.value if ours.ok else ours.exc_type.__name__ + ': ' + ours.message}"
        )
    if theirs.ok:
        assert same_value(theirs.value, ours.value), (
            f"{label}: torch {theirs.value!r} != optlab {ours.value!r}"
        )
        if check_warnings:
            assert theirs.warnings == ours.warnings, (
                f"{label}: warnings torch {theirs.warnings} != optlab {ours.warnings}"
            )
    else:
        assert theirs.exc_type is ours.exc_type, (
            f"{label}: torch raised {theirs.exc_type.__name__}: {theirs.message}; "
            f"optlab raised {ours.exc_type.__name__}: {ours.message}"
        )
        if theirs.exc_type is KeyError or not check_message:
            # 缺键时先碰到哪个键取决于算法内部读取的先后，只要求同为 KeyError
            return theirs
        ratio = similarity(theirs.message, ours.message)
        assert ratio >= min_similarity, (
            f"{label}: messages differ ({ratio:.2f})\n torch:  {theirs.message}\n optlab: {ours.message}"
        )
    return theirs


def call_order_warnings(optimizer_cls, scheduler_cls, *, wrong_order: bool, replace_step: bool) -> list:
    """SGD + StepLR 走一步，记下调度器的调用顺序警告：[(类别, 信息), …]。

    ``wrong_order``：先 ``scheduler.step()`` 再 ``optimizer.step()``；
    ``replace_step``：构造调度器之后又替换了 ``optimizer.step``（torch 对这两种情形各有一条警告）。
    """
    p = torch.nn.Parameter(torch.ones(2))
    opt = optimizer_cls([p], lr=0.1)
    sched = scheduler_cls(opt, 1)
    if replace_step:
        opt.step = lambda closure=None: None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p.grad = torch.ones(2)
        first, second = (sched, opt) if wrong_order else (opt, sched)
        first.step()
        second.step()
    return [(w.category.__name__, str(w.message)) for w in caught]
