"""由用户函数决定学习率的调度器：LambdaLR 与 MultiplicativeLR。"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._base import LRScheduler, callable_state, load_own_state, own_state, restore_callable

__all__ = ["LambdaLR", "MultiplicativeLR"]


def _per_group_lambdas(optimizer: Any, lr_lambda: Any) -> list:
    """一个函数则所有参数组共用；列表则必须每组一个。"""
    count = len(optimizer.param_groups)
    if not isinstance(lr_lambda, (list, tuple)):
        return [lr_lambda] * count
    if len(lr_lambda) != count:
        raise ValueError(f"Expected {count} lr_lambdas, but got {len(lr_lambda)}")
    return list(lr_lambda)


def _check_callable(lr_lambdas: list) -> None:
    """MultiplicativeLR 与 torch 一样在构造时检查（LambdaLR 在 torch 里不检查，到 step 才出错）。"""
    for fn in lr_lambdas:
        if not callable(fn):
            raise TypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")


class _LambdaScheduler(LRScheduler):
    """两者共用的构造与保存：每个参数组一个函数；普通函数无法保存，只保存可调用对象的属性。"""

    # MultiplicativeLR 与 torch 一样在构造时检查函数是否可调用，LambdaLR 不检查
    _check_callables = False

    def __init__(
        self,
        optimizer: Any,
        lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = optimizer
        self.lr_lambdas = _per_group_lambdas(optimizer, lr_lambda)
        if self._check_callables:
            _check_callable(self.lr_lambdas)
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        state = own_state(self, "lr_lambdas")
        state["lr_lambdas"] = [callable_state(fn) for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = load_own_state(self, state_dict, "lr_lambdas")
        for fn, fn_state in zip(self.lr_lambdas, saved):
            restore_callable(fn, fn_state)


class LambdaLR(_LambdaScheduler):
    r"""学习率 = 初始学习率 × 用户函数的值。

    .. math:: \eta_t = \eta_0 \cdot \lambda(t)

    ``lr_lambda`` 可以是一个函数，也可以是每个参数组一个函数的列表。
    """

    def get_lr(self) -> list:
        self._warn_if_called_outside_step()
        return [
            base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)
        ]


class MultiplicativeLR(_LambdaScheduler):
    r"""每一步把当前学习率乘上用户函数的值。

    .. math:: \eta_t = \eta_{t-1} \cdot \lambda(t)
    """

    _check_callables = True

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self._is_initial:
            return lrs
        # strict：构造后新加的参数组没有对应的函数，与 torch 一样在这里报错
        return [lr * fn(self.last_epoch) for fn, lr in zip(self.lr_lambdas, lrs, strict=True)]
