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

from __future__ import annotations

import torch

from ._checks import (
    adam_family_hyperparams,
    check_beta_range,
    check_eps,
    check_foreach_not_differentiable,
    check_lr,
    check_non_negative,
)
from .optimizer import Optimizer

__all__ = ["Adamax"]


class Adamax(Optimizer):
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

    def init_state(self, group, param):
        return {
            "step": self.new_step_counter(group, param),
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_inf": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    @staticmethod
    def _rejects_grad_lr(group):
        """torch 的 for-loop 把步长 lr/(1-β₁ᵗ) 当作 addcdiv_ 的 value：它若需要梯度就报 TypeError。

        这里照样拒绝，做到“同一输入同一异常类型”。
        """
        if group["capturable"] or not group["differentiable"]:
            return False
        return any(
            isinstance(x, torch.Tensor) and x.requires_grad
            for x in (group["lr"], group["betas"][0])
        )

    def update(self, group, params, grads, states):
        if self._rejects_grad_lr(group):
            raise TypeError(
                "lr or betas[0] that requires grad is not supported for differentiable=True "
                "and capturable=False"
            )
        keep_tensors, lr, beta1, beta2, eps, weight_decay = adam_family_hyperparams(group)
        self.check_capturable_devices(group, params, [s["step"] for s in states])
        for param, grad, state in zip(params, grads, states):
            state["step"] += 1
            step = state["step"] if group["capturable"] else state["step"].item()
            if weight_decay != 0:
                grad = grad.add(param, alpha=weight_decay)

            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            exp_avg.lerp_(grad, 1 - beta1)
            bound = grad.abs().add_(eps)
            if group["differentiable"]:  # out= 不能求导，只好先算再拷回
                exp_inf.copy_(torch.maximum(exp_inf * beta2, bound))
            else:
                torch.maximum(exp_inf.mul_(beta2), bound, out=exp_inf)

            if keep_tensors:
                param.sub_(exp_avg / exp_inf * (lr / (1 - beta1**step)))
            else:
                param.addcdiv_(exp_avg, exp_inf, value=-lr / (1 - beta1**step))

    def update_foreach(self, group, params, grads, states):
        check_foreach_not_differentiable(group)
        if not group["capturable"] and isinstance(group["betas"][0], torch.Tensor):
            # torch 的 foreach 路径此时会因步长成了张量而报 TypeError；同一输入同一异常
            raise TypeError(
                "betas[0] as a Tensor is not supported for capturable=False and foreach=True"
            )
        keep_tensors, lr, beta1, beta2, eps, weight_decay = adam_family_hyperparams(group)
        steps = [s["step"] for s in states]
        self.check_capturable_devices(group, params, steps)
        exp_avgs = [s["exp_avg"] for s in states]
        exp_infs = [s["exp_inf"] for s in states]

        torch._foreach_add_(steps, 1)
        if weight_decay != 0:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        bounds = torch._foreach_abs(grads)
        torch._foreach_add_(bounds, eps)
        torch._foreach_mul_(exp_infs, beta2)
        torch._foreach_maximum_(exp_infs, bounds)

        if keep_tensors:
            step_sizes = [lr / (1 - beta1**s) for s in steps]
            torch._foreach_sub_(
                params, torch._foreach_mul(torch._foreach_div(exp_avgs, exp_infs), step_sizes)
            )
        else:
            step_sizes = [-lr / (1 - beta1 ** s.item()) for s in steps]
            torch._foreach_addcdiv_(params, exp_avgs, exp_infs, step_sizes)
