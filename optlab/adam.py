r"""Adam（Kingma & Ba, 2015）：一阶矩与二阶矩的指数滑动平均，加偏差修正。

.. math::
    \begin{aligned}
    & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
    & \textbf{if } \lambda \ne 0: \begin{cases}
        \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) & \text{decoupled\_weight\_decay（AdamW）} \\
        g_t \leftarrow g_t + \lambda\theta_{t-1} & \text{否则（L2 正则）} \end{cases} \\
    & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    & v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
    & \hat m_t \leftarrow m_t / (1-\beta_1^t), \qquad \hat v_t \leftarrow v_t / (1-\beta_2^t) \\
    & \textbf{if amsgrad}: \; v^{\max}_t \leftarrow \max(v^{\max}_{t-1}, v_t),\;
        \hat v_t \leftarrow v^{\max}_t / (1-\beta_2^t) \\
    & \theta_t \leftarrow \theta_{t-1} - \gamma\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)
    \end{aligned}

实现时把两个偏差修正合进步长：:math:`\theta_t \leftarrow \theta_{t-1} -
\frac{\gamma}{1-\beta_1^t}\, m_t / (\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon)`。
``fused=True`` 走与 foreach 相同的多张量路径，数值与 foreach 一致。
"""

from __future__ import annotations

import torch

from ._checks import (
    as_float,
    check_betas,
    check_eps,
    check_fused_flags,
    check_fused_params,
    check_lr,
    check_non_negative,
    check_tensor_hyperparams_foreach,
)
from .optimizer import Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    ):
        check_lr(lr)
        check_eps(eps)
        check_betas(betas)
        check_non_negative("weight_decay", weight_decay)
        check_tensor_hyperparams_foreach(lr, betas, foreach, capturable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        check_fused_flags(fused, foreach, differentiable)

    def init_state(self, group, param):
        state = {
            "step": self.new_step_counter(group, param),
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
        }
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    def _hyper(self, group):
        """capturable/differentiable 时保留张量（step 也是张量），否则取 Python 数以免同步开销。"""
        # fused 内核用高精度标量算偏差修正，所以 fused 时即使 capturable 也取 Python 数
        keep_tensors = (group["capturable"] and not group["fused"]) or group["differentiable"]
        keep_tensors = keep_tensors or torch.compiler.is_compiling()  # 编译时 .item() 会断开计算图
        lr, (beta1, beta2) = group["lr"], group["betas"]
        if not keep_tensors:
            lr, beta1, beta2 = as_float(lr), as_float(beta1), as_float(beta2)
        return keep_tensors, lr, beta1, beta2

    def update(self, group, params, grads, states):
        keep_tensors, lr, beta1, beta2 = self._hyper(group)
        eps, weight_decay = group["eps"], group["weight_decay"]
        self.check_capturable_devices(group, params, [s["step"] for s in states])
        # 张量 lr 时 torch 按 lr 的 dtype 算衰减因子，这里照做，float64 参数才能逐位对上
        decay = 1 - group["lr"] * weight_decay
        if not keep_tensors:
            decay = as_float(decay)
        for param, grad, state in zip(params, grads, states):
            state["step"] += 1
            step = state["step"] if keep_tensors else state["step"].item()
            if weight_decay != 0:
                if group["decoupled_weight_decay"]:
                    param.mul_(decay)
                else:
                    grad = grad.add(param, alpha=weight_decay)

            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            if group["amsgrad"]:
                if group["differentiable"]:  # out= 不支持自动求导
                    state["max_exp_avg_sq"].copy_(torch.maximum(state["max_exp_avg_sq"], exp_avg_sq))
                else:
                    torch.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
                exp_avg_sq = state["max_exp_avg_sq"]

            step_size = lr / (1 - beta1**step)
            denom = (exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(eps)
            if keep_tensors:
                if group["differentiable"]:  # 求导要用到本步的一阶矩，下一步会原地改它，故存副本
                    exp_avg = exp_avg.clone()
                param.sub_(exp_avg / denom * step_size)
            else:
                param.addcdiv_(exp_avg, denom, value=-step_size)

    def update_foreach(self, group, params, grads, states):
        if group["fused"]:
            check_fused_params(params)
        keep_tensors, lr, beta1, beta2 = self._hyper(group)
        eps, weight_decay = group["eps"], group["weight_decay"]
        steps = [s["step"] for s in states]
        self.check_capturable_devices(group, params, steps)
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
        if group["amsgrad"]:
            max_sqs = [s["max_exp_avg_sq"] for s in states]
            torch._foreach_maximum_(max_sqs, exp_avg_sqs)
            exp_avg_sqs = max_sqs

        denom = torch._foreach_sqrt(exp_avg_sqs)
        if keep_tensors:
            bias2_sqrt = [(1 - beta2**s) ** 0.5 for s in steps]
            step_sizes = [lr / (1 - beta1**s) for s in steps]
            torch._foreach_div_(denom, bias2_sqrt)
            torch._foreach_add_(denom, eps)
            torch._foreach_sub_(
                params, torch._foreach_mul(torch._foreach_div(exp_avgs, denom), step_sizes)
            )
        else:
            step_values = [s.item() for s in steps]
            torch._foreach_div_(denom, [(1 - beta2**t) ** 0.5 for t in step_values])
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(
                params, exp_avgs, denom, [-lr / (1 - beta1**t) for t in step_values]
            )
