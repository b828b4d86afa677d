r"""NAdam（Dozat, 2016，*Incorporating Nesterov Momentum into Adam*）：把 Nesterov 动量放进 Adam。

.. math::
    \begin{aligned}
    & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
    & \textbf{if } \lambda \ne 0: \begin{cases}
        \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) & \text{decoupled\_weight\_decay} \\
        g_t \leftarrow g_t + \lambda\theta_{t-1} & \text{否则（L2 正则）} \end{cases} \\
    & \mu_t \leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr), \qquad
      \mu_{t+1} \leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{(t+1)\psi}\bigr) \\
    & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    & v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    & \hat m_t \leftarrow \frac{\mu_{t+1} m_t}{1 - \prod_{i=1}^{t+1}\mu_i}
        + \frac{(1-\mu_t)\, g_t}{1 - \prod_{i=1}^{t}\mu_i} \\
    & \hat v_t \leftarrow v_t / (1-\beta_2^t) \\
    & \theta_t \leftarrow \theta_{t-1} - \gamma\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)
    \end{aligned}

:math:`\psi` 是动量衰减 ``momentum_decay``：动量系数 :math:`\mu_t` 随步数从 :math:`\beta_1/2`
慢慢升到 :math:`\beta_1`（一种动量预热）。连乘 :math:`\prod_{i\le t}\mu_i` 存在状态 ``mu_product`` 里。
“Nesterov”体现在 :math:`\hat m_t` 用的是下一步的系数 :math:`\mu_{t+1}`——先往前看一步。
"""

from __future__ import annotations

import torch

from ._checks import (
    adam_family_hyperparams,
    as_float,
    check_beta_range,
    check_eps,
    check_foreach_not_differentiable,
    check_lr,
    check_non_negative,
)
from .optimizer import Optimizer, scalar_dtype

__all__ = ["NAdam"]


class NAdam(Optimizer):
    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        check_lr(lr)
        check_eps(eps)
        check_beta_range(betas)
        check_non_negative("weight_decay", weight_decay)
        check_non_negative("momentum_decay", momentum_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def init_state(self, group, param):
        # mu_product 与 step 一样是标量；capturable 时要和参数在同一设备上
        device = param.device if group["capturable"] else None
        return {
            "step": self.new_step_counter(group, param),
            "mu_product": torch.ones((), dtype=scalar_dtype(), device=device),
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    @staticmethod
    def _momentum(beta1, step, psi):
        r""":math:`\mu_t = \beta_1(1 - 0.5 \cdot 0.96^{t\psi})`。"""
        return beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))

    def update(self, group, params, grads, states):
        # 张量 β 保持张量：μ_t 的连乘按 β 的 dtype 舍入，否则几十步后轨迹就与 torch 对不上
        keep_tensors, lr, beta1, beta2, eps, weight_decay = adam_family_hyperparams(
            group, betas_as_float=False
        )
        psi = group["momentum_decay"]
        self.check_capturable_devices(group, params, [s["step"] for s in states])
        for param, grad, state in zip(params, grads, states):
            state["step"] += 1
            step = state["step"] if group["capturable"] else state["step"].item()
            if weight_decay != 0:
                if group["decoupled_weight_decay"]:
                    param.mul_(1 - lr * weight_decay)
                else:
                    grad = grad.add(param, alpha=weight_decay)

            mu, mu_next = self._momentum(beta1, step, psi), self._momentum(beta1, step + 1, psi)
            mu_product = state["mu_product"]
            mu_product *= mu

            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = exp_avg_sq.div(1 - beta2**step).sqrt_()

            if keep_tensors:
                denom = denom + eps
                grad_size = lr * (1 - mu) / (1 - mu_product)
                avg_size = lr * mu_next / (1 - mu_product * mu_next)
                param.sub_(grad / denom * grad_size)
                param.sub_(exp_avg / denom * avg_size)
            else:
                denom.add_(eps)
                prod = mu_product.item()
                param.addcdiv_(grad, denom, value=as_float(-lr * (1 - mu) / (1 - prod)))
                param.addcdiv_(exp_avg, denom, value=as_float(-lr * mu_next / (1 - prod * mu_next)))

    def update_foreach(self, group, params, grads, states):
        check_foreach_not_differentiable(group)
        if not group["capturable"]:
            # torch 的 foreach 路径不接受这些张量超参数（β₂ 报 RuntimeError，其余报 TypeError）；
            # 为做到“同一输入同一异常类型”，这里照样拒绝
            beta1, beta2 = group["betas"]
            if isinstance(beta2, torch.Tensor):
                raise RuntimeError(
                    "betas[1] as a Tensor is not supported for capturable=False and foreach=True"
                )
            if isinstance(beta1, torch.Tensor) or isinstance(group["momentum_decay"], torch.Tensor):
                raise TypeError(
                    "betas[0] / momentum_decay as Tensors are not supported for "
                    "capturable=False and foreach=True"
                )
        keep_tensors, lr, beta1, beta2, eps, weight_decay = adam_family_hyperparams(
            group, betas_as_float=False
        )
        psi = group["momentum_decay"]
        steps = [s["step"] for s in states]
        self.check_capturable_devices(group, params, steps)
        mu_products = [s["mu_product"] for s in states]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]

        torch._foreach_add_(steps, 1)
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                torch._foreach_mul_(params, 1 - lr * weight_decay)
            else:
                grads = torch._foreach_add(grads, params, alpha=weight_decay)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)

        if not keep_tensors:
            steps = [s.item() for s in steps]
        mus = [self._momentum(beta1, t, psi) for t in steps]
        mu_nexts = [self._momentum(beta1, t + 1, psi) for t in steps]
        torch._foreach_mul_(mu_products, mus)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, [(1 - beta2**t) ** 0.5 for t in steps])
        torch._foreach_add_(denom, eps)

        if keep_tensors:
            grad_sizes = [lr * (1 - m) / (1 - p) for m, p in zip(mus, mu_products)]
            avg_sizes = [lr * n / (1 - p * n) for n, p in zip(mu_nexts, mu_products)]
            torch._foreach_sub_(
                params, torch._foreach_mul(torch._foreach_div(grads, denom), grad_sizes)
            )
            torch._foreach_sub_(
                params, torch._foreach_mul(torch._foreach_div(exp_avgs, denom), avg_sizes)
            )
        else:
            prods = [p.item() for p in mu_products]
            grad_sizes = [-lr * (1 - m) / (1 - p) for m, p in zip(mus, prods)]
            avg_sizes = [-lr * n / (1 - p * n) for n, p in zip(mu_nexts, prods)]
            torch._foreach_addcdiv_(params, grads, denom, grad_sizes)
            torch._foreach_addcdiv_(params, exp_avgs, denom, avg_sizes)
