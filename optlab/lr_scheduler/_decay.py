"""按步数衰减的调度器：StepLR、MultiStepLR、ExponentialLR、PolynomialLR。"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ._base import LRScheduler

__all__ = ["ExponentialLR", "MultiStepLR", "PolynomialLR", "StepLR"]


class StepLR(LRScheduler):
    r"""每 ``step_size`` 步把学习率乘以 ``gamma``。

    .. math:: \eta_t = \eta_0 \cdot \gamma^{\lfloor t / \text{step\_size} \rfloor}
    """

    def __init__(
        self, optimizer: Any, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self.last_epoch != 0 and self.last_epoch % self.step_size == 0:
            return [lr * self.gamma for lr in lrs]
        return lrs

    def _get_closed_form_lr(self) -> list:
        return [
            base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs
        ]


class MultiStepLR(LRScheduler):
    r"""每到一个里程碑把学习率乘以 ``gamma``（同一里程碑出现 k 次就乘 k 次）。

    .. math:: \eta_t = \eta_0 \cdot \gamma^{\#\{m \in \text{milestones} : m \le t\}}
    """

    def __init__(
        self,
        optimizer: Any,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self.last_epoch not in self.milestones:
            return lrs
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        milestones = sorted(self.milestones.elements())
        passed = bisect_right(milestones, self.last_epoch)
        return [base_lr * self.gamma**passed for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""每一步把学习率乘以 ``gamma``。

    .. math:: \eta_t = \eta_0 \cdot \gamma^{t}
    """

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self._is_initial:
            return lrs
        return [lr * self.gamma for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    r"""用多项式把学习率在 ``total_iters`` 步内降到 0，之后保持。

    .. math:: \eta_t = \eta_0 \cdot \Bigl(1 - \frac{\min(t, T)}{T}\Bigr)^{p}

    链式形式每步乘以相邻两步的比值 :math:`\bigl(\frac{1 - t/T}{1 - (t-1)/T}\bigr)^{p}`。
    """

    def __init__(
        self,
        optimizer: Any,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self._is_initial or self.last_epoch == 0 or self.last_epoch > self.total_iters:
            return lrs
        t, total = self.last_epoch, self.total_iters
        factor = ((1.0 - t / total) / (1.0 - (t - 1) / total)) ** self.power
        return [lr * factor for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        remaining = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base_lr * remaining**self.power for base_lr in self.base_lrs]
