r"""Adam（Kingma & Ba, 2015）：一阶矩与二阶矩的指数移动平均，加偏差修正。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

import torch

from ._checks import (
    check_betas,
    check_eps,
    check_fused_flags,
    check_fused_params,
    check_lr,
    check_non_negative,
    check_tensor_hyperparams_foreach,
)
from ._ops import (
    adam_moments_,
    adam_moments_foreach_,
    add_eps,
    apply_weight_decay,
    apply_weight_decay_foreach,
    as_float,
    bias_correction,
    bias_corrections,
    running_max_,
    running_max_foreach_,
    sub_ratio_,
    sub_ratio_foreach_,
    to_scalar,
)
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["Adam"]


class Adam(Optimizer):
    r"""Adam（Kingma & Ba, 2015）：一阶矩与二阶矩的指数移动平均，加偏差修正。

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
    ``fused=True`` 运行由 ``torch.compile`` 从逐张量公式编译出的融合内核（见 ``optlab._fused``），
    数值与 torch 的 fused 内核一致到 torch 自己在 fused 与 foreach 之间允许的容差。
    """

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
        betas = tuple(to_scalar(b) for b in betas)  # 与 torch 一样存成元组，[1] 形状的张量 β 变成 0 维
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

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        state = {
            "step": self.new_step_counter(group, param),
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
        }
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    scalar_hyperparams = ("betas",)  # lr 保持原样：与 torch 一样，张量 lr 按自己的 dtype 算步长与衰减

    def tensor_policy(self, group):
        # fused 内核用高精度标量算偏差修正，所以 fused 时即使 capturable 也取 Python 数
        keep = bool((group["capturable"] and not group["fused"]) or group["differentiable"])
        return keep, keep

    def hyperparams(self, group):
        hp = super().hyperparams(group)
        if group["fused"]:  # torch 的 fused 内核把 lr 当作双精度数
            hp["lr"] = as_float(hp["lr"])
        return hp

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        decay, decoupled = group["weight_decay"], group["decoupled_weight_decay"]
        steps = self.advance_steps(group, params, states)
        for param, grad, state, t in zip(params, grads, states, steps):
            grad = apply_weight_decay(param, grad, lr, decay, decoupled)
            m, v = adam_moments_(state, grad, beta1, beta2)
            if group["amsgrad"]:
                v = running_max_(state["max_exp_avg_sq"], v, group["differentiable"])
            # 两个偏差修正合进步长：θ ← θ − γ/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
            denom = add_eps(v.sqrt() / bias_correction(beta2, t) ** 0.5, eps, group["differentiable"])
            sub_ratio_(param, m, denom, lr / bias_correction(beta1, t), group)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        if group["fused"]:
            check_fused_params(params)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        decay, decoupled = group["weight_decay"], group["decoupled_weight_decay"]
        steps = self.advance_steps(group, params, states)
        grads = apply_weight_decay_foreach(params, grads, lr, decay, decoupled)
        ms, vs = adam_moments_foreach_(states, grads, beta1, beta2)
        if group["amsgrad"]:
            vs = running_max_foreach_([s["max_exp_avg_sq"] for s in states], vs)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, [b**0.5 for b in bias_corrections(beta2, steps)])
        torch._foreach_add_(denom, eps)
        sub_ratio_foreach_(params, ms, denom, [lr / b for b in bias_corrections(beta1, steps)], group)
