"""循环学习率 CyclicLR：学习率在 base_lr 与 max_lr 之间来回，动量反向循环。"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from ._base import (
    LRScheduler,
    callable_state,
    check_momentum_support,
    format_param,
    load_own_state,
    own_state,
    restore_callable,
    set_group_value,
    set_momentum,
)

__all__ = ["CyclicLR"]


def _triangular_scale(x: float) -> float:
    return 1.0


def _triangular2_scale(x: float) -> float:
    # 每个周期振幅减半
    return 1 / (2.0 ** (x - 1))


def _exp_range_scale(gamma: float, x: float) -> float:
    # 振幅按迭代数指数衰减
    return gamma**x


class CyclicLR(LRScheduler):
    r"""在 ``base_lr`` 与 ``max_lr`` 之间按三角波循环学习率（每个 batch 调一次）。

    一个周期长 :math:`S = S_{up} + S_{down}`，第 :math:`c` 个周期内的位置
    :math:`x = 1 + t/S - c`，:math:`c = \lfloor 1 + t/S \rfloor`：

    .. math::
        h = \begin{cases} x / r & x \le r \\ (x - 1)/(r - 1) & x > r \end{cases},\qquad
        \eta_t = \eta_{base} + (\eta_{max} - \eta_{base})\, h\, s(\cdot)

    其中 :math:`r = S_{up}/S`，振幅缩放 :math:`s` 按 ``scale_mode`` 以周期数 :math:`c`
    或迭代数 :math:`t` 为自变量：triangular 为 1，triangular2 为 :math:`2^{1-c}`，
    exp_range 为 :math:`\gamma^{t}`。``cycle_momentum`` 时动量反向：
    :math:`m_t = m_{max} - (m_{max} - m_{base})\, h\, s(\cdot)`。
    """

    def __init__(
        self,
        optimizer: Any,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
        last_epoch: int = -1,
    ) -> None:
        base_lrs = format_param("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                set_group_value(group, "lr", lr)
        self.max_lrs = format_param("max_lr", optimizer, max_lr)

        step_size_up = float(step_size_up)
        step_size_down = float(step_size_down) if step_size_down is not None else step_size_up
        self.total_size = step_size_up + step_size_down
        self.step_ratio = step_size_up / self.total_size

        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_ref: Callable[[float], float]
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = check_momentum_support(optimizer)
            self.base_momentums = format_param("base_momentum", optimizer, base_momentum)
            self.max_momentums = format_param("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(
                    self.max_momentums, self.base_momentums, optimizer.param_groups
                ):
                    set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base

        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        """按 mode 选内置缩放函数（自定义 scale_fn 优先，且沿用用户给的 scale_mode）。"""
        if self._scale_fn_custom is not None:
            return
        if self.mode == "triangular":
            self._scale_fn_ref = _triangular_scale
            self.scale_mode = "cycle"
        elif self.mode == "triangular2":
            self._scale_fn_ref = _triangular2_scale
            self.scale_mode = "cycle"
        elif self.mode == "exp_range":
            self._scale_fn_ref = partial(_exp_range_scale, self.gamma)
            self.scale_mode = "iterations"

    def scale_fn(self, x: float) -> float:
        """振幅缩放函数。"""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return self._scale_fn_ref(x)

    def get_lr(self) -> list:
        self._warn_if_called_outside_step()
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            height = x / self.step_ratio
        else:
            height = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)

        lrs = [
            base_lr + (max_lr - base_lr) * height * scale
            for base_lr, max_lr in zip(self.base_lrs, self.max_lrs)
        ]
        if self.cycle_momentum:
            for group, m_base, m_max in zip(
                self.optimizer.param_groups, self.base_momentums, self.max_momentums
            ):
                set_momentum(group, m_max - (m_max - m_base) * height * scale, self.use_beta1)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        """内置缩放函数不保存；自定义的只有可调用对象才保存其 ``__dict__``。"""
        state = own_state(self, "_scale_fn_ref", "_scale_fn_custom")
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = None if fn is None else callable_state(fn)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        fn_state = load_own_state(self, state_dict, "_scale_fn_custom")
        restore_callable(self._scale_fn_custom, fn_state)
        self._init_scale_fn()
