r"""Adamax（Kingma & Ba, 2015，Adam 论文第 7.1 节）：把 Adam 的二阶矩换成无穷范数。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

import torch

from ._checks import (
    check_beta_range,
    check_eps,
    check_lr,
    check_non_negative,
)
from ._ops import (
    apply_weight_decay,
    apply_weight_decay_foreach,
    bias_correction,
    ema_,
    ema_foreach_,
    running_max_,
    running_max_foreach_,
    sub_ratio_,
    sub_ratio_foreach_,
)
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax（Kingma & Ba, 2015，Adam 论文第 7.1 节）：把 Adam 的二阶矩换成无穷范数。

    .. math::
        \begin{aligned}
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \textbf{if } \lambda \ne 0:\; g_t \leftarrow g_t + \lambda\theta_{t-1} \\
        & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
        & u_t \leftarrow \max(\beta_2 u_{t-1},\; |g_t| + \epsilon) \\
        & \theta_t \leftarrow \theta_{t-1} - \frac{\gamma\, m_t}{(1-\beta_1^t)\, u_t}
        \end{aligned}

    :math:`u_t`（状态 ``exp_inf``）是“带衰减的历史最大梯度幅值”，它不需要偏差修正：
    取最大值不会像平均那样被初始的 0 拉低。:math:`\epsilon` 加在 :math:`|g_t|` 上，保证分母为正。
    """

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        check_lr(lr)
        check_eps(eps)
        check_beta_range(betas)
        check_non_negative("weight_decay", weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        return {
            "step": self.new_step_counter(group, param),
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_inf": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    number_hyperparams = ("lr", "betas[0]", "weight_decay")  # 步长 lr/(1-β₁ᵗ) 与 λ 被当作数用

    def check_step_inputs(self, group, foreach):
        super().check_step_inputs(group, foreach)
        if foreach and not group["capturable"] and isinstance(group["betas"][0], torch.Tensor):
            # torch 的 foreach 路径此时会因步长成了张量而报 TypeError；同一输入同一异常
            raise TypeError(
                "betas[0] as a Tensor is not supported for capturable=False and foreach=True"
            )

    scalar_hyperparams = ("lr", "betas", "eps", "weight_decay")

    def tensor_policy(self, group):
        # 与 torch 一样：differentiable 时超参数保持张量，但 t 只在 capturable 时保持张量
        return bool(group["capturable"] or group["differentiable"]), bool(group["capturable"])

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        steps = self.advance_steps(group, params, states)
        for param, grad, state, t in zip(params, grads, states, steps):
            grad = apply_weight_decay(param, grad, lr, group["weight_decay"])
            m = ema_(state["exp_avg"], grad, beta1)
            u = running_max_(state["exp_inf"], grad.abs().add_(eps), group["differentiable"], beta2)
            sub_ratio_(param, m, u, lr / bias_correction(beta1, t), group)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        steps = self.advance_steps(group, params, states)
        grads = apply_weight_decay_foreach(params, grads, lr, group["weight_decay"])
        ms = ema_foreach_([s["exp_avg"] for s in states], grads, beta1)
        bounds = torch._foreach_abs(grads)
        torch._foreach_add_(bounds, eps)
        us = running_max_foreach_([s["exp_inf"] for s in states], bounds, beta2)
        sub_ratio_foreach_(params, ms, us, [lr / bias_correction(beta1, t) for t in steps], group)
