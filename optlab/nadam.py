r"""NAdam（Dozat, 2016，*Incorporating Nesterov Momentum into Adam*）：把 Nesterov 动量放进 Adam。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

import torch

from ._checks import (
    check_beta_range,
    check_eps,
    check_lr,
    check_non_negative,
    reject_tensors_as_numbers,
)
from ._ops import (
    adam_moments_,
    adam_moments_foreach_,
    add_eps,
    apply_weight_decay,
    apply_weight_decay_foreach,
    bias_correction,
    bias_corrections,
    sub_ratio_,
    sub_ratio_foreach_,
)
from .optimizer import Group, Optimizer, States, Tensors, scalar_dtype

__all__ = ["NAdam"]


class NAdam(Optimizer):
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

    与 torch 2.13 有意不同的一处：``differentiable=True`` 且 ``lr`` 是要求梯度的张量时，torch 的反向传播
    报 RuntimeError（它原地改了反向要用的张量）；这里给出正确的梯度（测试用中心差分核对）。
    """

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

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
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

    def check_step_inputs(self, group, foreach):
        super().check_step_inputs(group, foreach)
        if not foreach:  # torch 的 for-loop 把 β₂、λ 当作数用（value=/alpha=）
            reject_tensors_as_numbers(group, ("betas[1]", "weight_decay"), check_shape=False)
        if foreach and not group["capturable"]:
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

    scalar_hyperparams = ("lr", "eps", "weight_decay")  # β 保持原样：μ_t 的连乘按 β 的 dtype 舍入

    def tensor_policy(self, group):
        # 与 torch 一样：differentiable 时超参数保持张量，但 t 只在 capturable 时保持张量
        return bool(group["capturable"] or group["differentiable"]), bool(group["capturable"])

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, (beta1, beta2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        keep = group["keep_tensors"]
        steps = self.advance_steps(group, params, states)
        for param, grad, state, t in zip(params, grads, states, steps):
            grad = apply_weight_decay(
                param, grad, lr, group["weight_decay"], group["decoupled_weight_decay"]
            )
            mu, mu_next = self._momentum(beta1, t, psi), self._momentum(beta1, t + 1, psi)
            state["mu_product"].mul_(mu)
            prod = state["mu_product"] if keep else state["mu_product"].item()
            m, v = adam_moments_(state, grad, beta1, beta2)
            denom = add_eps(v.div(bias_correction(beta2, t)).sqrt_(), eps, keep)
            sub_ratio_(param, grad, denom, lr * (1 - mu) / (1 - prod), group)
            sub_ratio_(param, m, denom, lr * mu_next / (1 - prod * mu_next), group)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        lr, (beta1, beta2), eps, psi = group["lr"], group["betas"], group["eps"], group["momentum_decay"]
        steps = self.advance_steps(group, params, states)
        grads = apply_weight_decay_foreach(
            params, grads, lr, group["weight_decay"], group["decoupled_weight_decay"]
        )
        ms, vs = adam_moments_foreach_(states, grads, beta1, beta2)
        mus = [self._momentum(beta1, t, psi) for t in steps]
        mu_nexts = [self._momentum(beta1, t + 1, psi) for t in steps]
        mu_products = [s["mu_product"] for s in states]
        torch._foreach_mul_(mu_products, mus)
        prods = mu_products if group["keep_tensors"] else [p.item() for p in mu_products]
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, [b**0.5 for b in bias_corrections(beta2, steps)])
        torch._foreach_add_(denom, eps)
        grad_sizes = [lr * (1 - m) / (1 - p) for m, p in zip(mus, prods)]
        avg_sizes = [lr * n / (1 - p * n) for n, p in zip(mu_nexts, prods)]
        sub_ratio_foreach_(params, grads, denom, grad_sizes, group)
        sub_ratio_foreach_(params, ms, denom, avg_sizes, group)
