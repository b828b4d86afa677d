r"""RAdam（Liu et al., 2020，*On the Variance of the Adaptive Learning Rate and Beyond*）：整流的 Adam。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

import math

import torch

from ._checks import (
    check_beta_range,
    check_eps,
    check_lr,
    check_non_negative,
)
from ._ops import (
    adam_moments_,
    adam_moments_foreach_,
    add_eps,
    apply_weight_decay,
    apply_weight_decay_foreach,
    bias_correction,
    bias_corrections,
)
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["RAdam"]


def _rectification(rho_t, rho_inf):
    r""":math:`r_t`；``rho_t`` 可以是 Python 数或张量。"""
    ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    return ratio.sqrt() if isinstance(ratio, torch.Tensor) else math.sqrt(ratio)


def _adaptive_lr(exp_avg_sq, beta2, step, eps, differentiable):
    r""":math:`l_t = \sqrt{1-\beta_2^t} / (\sqrt{v_t} + \epsilon)`。"""
    return bias_correction(beta2, step) ** 0.5 / add_eps(exp_avg_sq.sqrt(), eps, differentiable)


class RAdam(Optimizer):
    r"""RAdam（Liu et al., 2020，*On the Variance of the Adaptive Learning Rate and Beyond*）：整流的 Adam。

    .. math::
        \begin{aligned}
        & \rho_\infty \leftarrow 2/(1-\beta_2) - 1 \\
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \textbf{if } \lambda \ne 0: \begin{cases}
            \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) & \text{decoupled\_weight\_decay} \\
            g_t \leftarrow g_t + \lambda\theta_{t-1} & \text{否则（L2 正则）} \end{cases} \\
        & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
        & v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        & \hat m_t \leftarrow m_t / (1-\beta_1^t) \\
        & \rho_t \leftarrow \rho_\infty - 2t\beta_2^t / (1-\beta_2^t) \\
        & \textbf{if } \rho_t > 5: \\
        & \quad l_t \leftarrow \sqrt{1-\beta_2^t} / (\sqrt{v_t} + \epsilon), \qquad
            r_t \leftarrow \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}} \\
        & \quad \theta_t \leftarrow \theta_{t-1} - \gamma\, \hat m_t\, r_t\, l_t \\
        & \textbf{else}: \; \theta_t \leftarrow \theta_{t-1} - \gamma\, \hat m_t
        \end{aligned}

    :math:`\rho_t` 估计“二阶矩平均了多少个样本”。前几步样本太少，自适应分母的方差很大，
    于是先退化成带动量的 SGD；:math:`\rho_t > 5` 之后再打开自适应学习率，并用 :math:`r_t` 修正方差。
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
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
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        return {
            "step": self.new_step_counter(group, param),
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    @staticmethod
    def _rho(beta2, step):
        r"""返回 :math:`(\rho_\infty, \rho_t)`。"""
        rho_inf = 2 / (1 - beta2) - 1
        return rho_inf, rho_inf - 2 * step * beta2**step / bias_correction(beta2, step)

    scalar_hyperparams = ("lr", "betas", "eps", "weight_decay")

    def tensor_policy(self, group):
        # 与 torch 一样：differentiable 时超参数保持张量，但 t 只在 capturable 时保持张量
        return bool(group["capturable"] or group["differentiable"]), bool(group["capturable"])

    number_hyperparams = ("betas[1]", "weight_decay")

    def check_step_inputs(self, group, foreach):
        super().check_step_inputs(group, foreach)
        if foreach and not group["capturable"] and isinstance(group["betas"][1], torch.Tensor):
            # torch 的 foreach 路径此时报 RuntimeError；同一输入同一异常类型
            raise RuntimeError(
                "betas[1] as a Tensor is not supported for capturable=False and foreach=True"
            )

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        steps = self.advance_steps(group, params, states)
        for param, grad, state, t in zip(params, grads, states, steps):
            grad = apply_weight_decay(
                param, grad, lr, group["weight_decay"], group["decoupled_weight_decay"]
            )
            m, v = adam_moments_(state, grad, beta1, beta2)

            # m̂_t、l_t 这些大临时张量只在一个表达式里出现、用完即释放：若留在循环变量里
            # 活到下一个参数，大张量的内存每步都得重新向系统要（缺页），for-loop 慢两三成
            bias_correction1 = bias_correction(beta1, t)
            rho_inf, rho_t = self._rho(beta2, t)
            if group["tensor_steps"]:  # t 是张量（capturable 或编译时）：不按 rho_t 的值走分支，两支都算再挑
                adaptive = _adaptive_lr(v, beta2, t, eps, group["differentiable"])
                # rho_t <= 5 时根号里可能为负，先夹住以免 NaN 混进另一支
                rect = _rectification(rho_t.clamp(min=5.0 + 1e-6), rho_inf)
                scale = torch.where(rho_t > 5, rect * adaptive, 1.0)
                param.sub_(m / bias_correction1 * lr * scale)
            elif rho_t > 5:
                param.sub_(
                    m / bias_correction1 * lr
                    * _adaptive_lr(v, beta2, t, eps, group["differentiable"])
                    * _rectification(rho_t, rho_inf)
                )  # fmt: skip
            else:
                param.sub_(m / bias_correction1 * lr)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        keep_tensors = group["keep_tensors"]
        steps = self.advance_steps(group, params, states)
        grads = apply_weight_decay_foreach(
            params, grads, lr, group["weight_decay"], group["decoupled_weight_decay"]
        )
        exp_avgs, exp_avg_sqs = adam_moments_foreach_(states, grads, beta1, beta2)

        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_add_(denom, eps)
        if keep_tensors:
            # 图捕获里不能按 rho_t 分支：整流的张量乘 r_t·l_t，未整流的乘 1。
            # 各个标量因子分开相乘，免得在 float32 的 step 精度下先把它们乘在一起
            rhos = [self._rho(beta2, t) for t in steps]
            on = [rho_t > 5 for _, rho_t in rhos]
            rects = [
                torch.where(o, _rectification(rho_t.clamp(min=5.0 + 1e-6), rho_inf), 0.0)
                for o, (rho_inf, rho_t) in zip(on, rhos)
            ]
            m_hat = torch._foreach_div(exp_avgs, bias_corrections(beta1, steps))
            torch._foreach_mul_(m_hat, lr)
            scale = torch._foreach_reciprocal(denom)
            torch._foreach_mul_(scale, [b**0.5 for b in bias_corrections(beta2, steps)])
            torch._foreach_mul_(scale, rects)
            torch._foreach_add_(scale, [torch.where(o, 0.0, 1.0) for o in on])
            torch._foreach_mul_(m_hat, scale)
            torch._foreach_sub_(params, m_hat)
            return

        # 按是否已整流把张量分成两批，各自一次多张量运算
        rect_p, rect_m, rect_d, rect_sizes = [], [], [], []
        plain_p, plain_m, plain_sizes = [], [], []
        for param, exp_avg, d, t in zip(params, exp_avgs, denom, steps):
            rho_inf, rho_t = self._rho(beta2, t)
            size = lr / (1 - beta1**t)
            if rho_t > 5:
                rect_p.append(param)
                rect_m.append(exp_avg)
                rect_d.append(d)
                rect_sizes.append(-size * (1 - beta2**t) ** 0.5 * _rectification(rho_t, rho_inf))
            else:
                plain_p.append(param)
                plain_m.append(exp_avg)
                plain_sizes.append(-size)
        if rect_p:
            torch._foreach_addcdiv_(rect_p, rect_m, rect_d, rect_sizes)
        if plain_p:
            torch._foreach_add_(plain_p, torch._foreach_mul(plain_m, plain_sizes))
