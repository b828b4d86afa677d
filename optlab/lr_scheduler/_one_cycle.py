"""1cycle 策略 OneCycleLR：先升到 max_lr 再降到远低于初始值的 min_lr。"""

from __future__ import annotations

import math
from typing import Any, Literal

from ._base import LRScheduler, check_momentum_support, format_param, set_momentum

__all__ = ["OneCycleLR"]


def _annealing_cos(start: float, end: float, pct: float) -> float:
    r""":math:`end + (start - end)\,(1 + \cos\pi p)/2`，p 从 0 到 1。"""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _annealing_linear(start: float, end: float, pct: float) -> float:
    r""":math:`start + (end - start)\,p`。"""
    return (end - start) * pct + start


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"Expected positive integer {name}, but got {value}")
    return value


class OneCycleLR(LRScheduler):
    r"""1cycle：学习率分两段（或三段）退火，动量反向变化；每个 batch 调一次。

    :math:`\eta_{init} = \eta_{max}/\text{div\_factor}`，
    :math:`\eta_{min} = \eta_{init}/\text{final\_div\_factor}`。两段时：

    .. math::
        \eta_t = \begin{cases}
        A(\eta_{init}, \eta_{max}, t / t_1) & t \le t_1 \\
        A(\eta_{max}, \eta_{min}, (t - t_1)/(T - 1 - t_1)) & t > t_1
        \end{cases}

    其中 :math:`t_1 = \text{pct\_start}\cdot T - 1`，:math:`T` 为总步数，
    退火函数 :math:`A(a, b, p)` 为余弦 :math:`b + (a - b)(1 + \cos\pi p)/2` 或线性
    :math:`a + (b - a)p`。三段时先升到 max、再对称降回 init，最后降到 min。
    """

    def __init__(
        self,
        optimizer: Any,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        if total_steps is not None:
            self.total_steps = _positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            _positive_int("epochs", epochs)
            _positive_int("steps_per_epoch", steps_per_epoch)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")

        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        self._schedule_phases = self._phases(pct_start, three_phase)

        max_lrs = format_param("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for max_lr_i, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = max_lr_i / div_factor
                group["max_lr"] = max_lr_i
                group["min_lr"] = group["initial_lr"] / final_div_factor

        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._anneal_func_type = anneal_strategy

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = check_momentum_support(optimizer)
            max_momentums = format_param("max_momentum", optimizer, max_momentum)
            base_momentums = format_param("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(
                    max_momentums, base_momentums, optimizer.param_groups
                ):
                    set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base

        super().__init__(optimizer, last_epoch)

    def _phases(self, pct_start: float, three_phase: bool) -> list[dict]:
        """每段记录结束步与起止值所在参数组的键。"""
        total = self.total_steps
        if three_phase:
            return [
                self._phase(float(pct_start * total) - 1, "initial_lr", "max_lr", "max", "base"),
                self._phase(
                    float(2 * pct_start * total) - 2, "max_lr", "initial_lr", "base", "max"
                ),
                self._phase(total - 1, "initial_lr", "min_lr", "max", "max"),
            ]
        return [
            self._phase(float(pct_start * total) - 1, "initial_lr", "max_lr", "max", "base"),
            self._phase(total - 1, "max_lr", "min_lr", "base", "max"),
        ]

    @staticmethod
    def _phase(end_step, start_lr, end_lr, start_m, end_m) -> dict:
        return {
            "end_step": end_step,
            "start_lr": start_lr,
            "end_lr": end_lr,
            "start_momentum": f"{start_m}_momentum",
            "end_momentum": f"{end_m}_momentum",
        }

    # 与 torch 同名的两个退火函数（旧检查点里保存的 ``anneal_func`` 就是它们之一）
    _annealing_cos = staticmethod(_annealing_cos)
    _annealing_linear = staticmethod(_annealing_linear)

    def _anneal_func(self, start: float, end: float, pct: float) -> float:
        # 旧版本（torch < 2.2 的格式）没有 _anneal_func_type，只有保存下来的函数 anneal_func
        kind = getattr(self, "_anneal_func_type", None)
        if kind is None:
            return self.anneal_func(start, end, pct)
        if kind == "cos":
            return _annealing_cos(start, end, pct)
        if kind == "linear":
            return _annealing_linear(start, end, pct)
        raise ValueError(f"Unknown _anneal_func_type: {kind}")

    def get_lr(self) -> list:
        self._warn_if_called_outside_step()
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(
                f"Tried to step {step_num} times. "
                f"The specified number of total steps is {self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            last = len(self._schedule_phases) - 1
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal_func(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal_func(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                set_momentum(group, momentum, self.use_beta1)
        return lrs
