"""余弦退火：CosineAnnealingLR 与带热重启的 CosineAnnealingWarmRestarts。"""

from __future__ import annotations

import math
from typing import Any

from ._base import LRScheduler, get_lr_within_step

__all__ = ["CosineAnnealingLR", "CosineAnnealingWarmRestarts"]


class CosineAnnealingLR(LRScheduler):
    r"""学习率沿半个余弦周期从 :math:`\eta_0` 降到 ``eta_min``（之后沿余弦回升，周期 :math:`2T`）。

    .. math::
        \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
        \Bigl(1 + \cos\frac{t\pi}{T_{\max}}\Bigr)

    链式形式用相邻两步的比值递推：
    :math:`\eta_t = \eta_{\min} + (\eta_{t-1} - \eta_{\min})
    \frac{1 + \cos(t\pi/T)}{1 + \cos((t-1)\pi/T)}`；
    在余弦谷底之后的那一步比值的分母为 0，改用加法形式。
    """

    def __init__(
        self, optimizer: Any, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        lrs = self._current_lrs()
        if self._is_initial:
            return lrs
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if (t - 1 - period) % (2 * period) == 0:
            # 谷底后的第一步：按闭式的增量往回加
            rise = (1 - math.cos(math.pi / period)) / 2
            # strict 且 base_lrs 在前：构造后新加的参数组在这里报错，信息与 torch 相同
            return [
                lr + (base_lr - eta_min) * rise
                for base_lr, lr in zip(self.base_lrs, lrs, strict=True)
            ]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [ratio * (lr - eta_min) + eta_min for lr in lrs]

    def _get_closed_form_lr(self) -> list:
        cos_factor = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cos_factor for base_lr in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""余弦退火 + 热重启（SGDR）：每个周期结束学习率跳回 :math:`\eta_0`，周期长度每次乘 ``T_mult``。

    .. math::
        \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
        \Bigl(1 + \cos\frac{T_{cur}\pi}{T_i}\Bigr)

    :math:`T_{cur}` 是本周期内已走的步数（``step(epoch)`` 时可为小数），:math:`T_i` 是本周期长度。
    """

    def __init__(
        self,
        optimizer: Any,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(  # noqa: TRY004  与 torch 的异常类型一致
                f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}"
            )
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        self._warn_if_called_outside_step()
        cos_factor = (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cos_factor for base_lr in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """走一步；``epoch`` 可以是小数（例如 ``epoch + i / iters``），据此定位周期。"""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                # 取模而非相减：以较大的 last_epoch 恢复时 T_cur 可能超出好几个周期（同 torch）
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            self._locate_cycle(epoch)
        self.last_epoch = math.floor(epoch)
        with get_lr_within_step(self):
            values = self.get_lr()
        self._apply_lrs(values)

    def _locate_cycle(self, epoch: float) -> None:
        r"""由总步数求所在周期：前 n 个周期共 :math:`T_0 (m^n - 1)/(m - 1)` 步。"""
        if epoch < self.T_0:
            self.T_i = self.T_0
            self.T_cur = epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:
            m = self.T_mult
            n = int(math.log(epoch / self.T_0 * (m - 1) + 1, m))
            self.T_cur = epoch - self.T_0 * (m**n - 1) / (m - 1)
            self.T_i = self.T_0 * m**n
