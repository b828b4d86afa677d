"""预热用的调度器：前若干步缩小学习率，之后恢复。ConstantLR、LinearLR。"""

from __future__ import annotations

from typing import Any

from ._base import LRScheduler

__all__ = ["ConstantLR", "LinearLR"]


class ConstantLR(LRScheduler):
    r"""前 ``total_iters`` 步把学习率乘以常数 ``factor``，之后恢复原值。

    .. math:: \eta_t = \eta_0 \cdot \begin{cases} f & t < T \\ 1 & t \ge T \end{cases}
    """

    def __init__(
        self,
        optimizer: Any,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self.last_epoch == 0:
            factor = self.factor  # 第 0 步：乘上 f
        elif self.last_epoch == self.total_iters:
            factor = 1.0 / self.factor  # 第 T 步：除掉 f，恢复原值
        else:
            return lrs
        return [lr * factor for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        reached = self.last_epoch >= self.total_iters
        return [base_lr * (self.factor + reached * (1 - self.factor)) for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    r"""在 ``total_iters`` 步内把乘数从 ``start_factor`` 线性变到 ``end_factor``。

    .. math::
        \eta_t = \eta_0 \Bigl(s + (e - s)\,\frac{\min(t, T)}{T}\Bigr)

    链式形式每步乘以相邻两步乘数之比
    :math:`1 + \frac{e - s}{T s + (t - 1)(e - s)}`。
    """

    def __init__(
        self,
        optimizer: Any,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal to 1."
            )
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in lrs]
        if self._is_initial or self.last_epoch > self.total_iters:
            return lrs
        span = self.end_factor - self.start_factor
        ratio = 1.0 + span / (self.total_iters * self.start_factor + (self.last_epoch - 1) * span)
        return [lr * ratio for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        done = min(self.total_iters, self.last_epoch)
        factor = self.start_factor + (self.end_factor - self.start_factor) * done / self.total_iters
        return [base_lr * factor for base_lr in self.base_lrs]
