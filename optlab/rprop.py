r"""Rprop（Riedmiller & Braun, 1993）：只看梯度的符号，每个坐标各自调整步长。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ._checks import check_lr
from ._ops import as_float, to_scalar
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Rprop（Riedmiller & Braun, 1993）：只看梯度的符号，每个坐标各自调整步长。

    .. math::
        \begin{aligned}
        & \textbf{初始化：} g^{prev}_0 \leftarrow 0,\; \eta_0 \leftarrow \gamma \\
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \textbf{对每个坐标 } i: \\
        & \quad \textbf{if } g^{prev,i} g^i_t > 0:\; s^i \leftarrow \eta_+ \\
        & \quad \textbf{elif } g^{prev,i} g^i_t < 0:\; s^i \leftarrow \eta_-,\; g^i_t \leftarrow 0 \\
        & \quad \textbf{else}:\; s^i \leftarrow 1 \\
        & \quad \eta^i_t \leftarrow \min(\max(\eta^i_{t-1} s^i, \Gamma_{\min}), \Gamma_{\max}) \\
        & \theta_t \leftarrow \theta_{t-1} - \eta_t \operatorname{sign}(g_t), \qquad g^{prev} \leftarrow g_t
        \end{aligned}

    论文：*A Direct Adaptive Method for Faster Backpropagation Learning: The RPROP Algorithm*（ICNN 1993）。
    :math:`(\eta_-, \eta_+)` 即 ``etas``，:math:`(\Gamma_{\min}, \Gamma_{\max})` 即 ``step_sizes``；
    状态 ``prev`` 是上一步（可能被置零的）梯度，``step_size`` 是每个坐标的步长。
    Rprop 只适合全批量梯度：小批量噪声会让符号来回翻转。
    """

    arg_docs: ClassVar[dict[str, str]] = {"lr": "每个坐标步长的初值 η₀"}  # 与通用说明不同的参数（见 optlab._docs）

    def __init__(
        self,
        params,
        lr=1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50),
        *,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        check_lr(lr)
        if not 0.0 < as_float(etas[0]) < 1.0 < as_float(etas[1]):
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        lr = to_scalar(group["lr"])
        if torch.is_complex(param):  # 实部、虚部各自是一个坐标，都从 lr 起步
            lr = complex(lr, lr)
        return {
            "step": self.new_step_counter(group, param),
            "prev": torch.zeros_like(param, memory_format=torch.preserve_format),
            "step_size": torch.full_like(param, lr, memory_format=torch.preserve_format),
        }

    @staticmethod
    def _factor_inplace_(agree, etaminus, etaplus):
        """把 g_t·g_{t-1} 原地改写成步长倍率：同号 → η₊，异号 → η₋，有一个为零 → 1。

        返回异号掩码（这一步跨过了极小值）；原地改写省掉大张量的临时分配。
        """
        same, flipped = agree > 0, agree < 0
        agree.fill_(1).masked_fill_(same, etaplus).masked_fill_(flipped, etaminus)
        return flipped

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        differentiable = group["differentiable"]
        self.check_capturable_devices(group, params, [s["step"] for s in states])
        for param, grad, state in zip(params, grads, states):
            state["step"].add_(1)  # t ← t + 1（原地加：不把张量重新存回状态字典）
            prev, step_size = state["prev"], state["step_size"]
            # prev 稍后会被原地覆盖，求导时要先复制一份留给反向传播
            factor = grad * (prev.clone() if differentiable else prev)
            flipped = self._factor_inplace_(factor, etaminus, etaplus)
            step_size.mul_(factor)
            step_size.clamp_(step_size_min, step_size_max)
            # 符号翻转说明上一步跨过了极小值：这一步不动，也不把这个梯度记作 prev
            grad = grad.masked_fill(flipped, 0)
            # 求导时 step_size 下一步还会被原地改，反向传播要的是这一步的值
            used_step_size = step_size.clone() if differentiable else step_size
            param.addcmul_(grad.sign(), used_step_size, value=-1)
            prev.copy_(grad)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        steps = [s["step"] for s in states]
        self.check_capturable_devices(group, params, steps)
        prevs = [s["prev"] for s in states]
        step_sizes = [s["step_size"] for s in states]

        torch._foreach_add_(steps, 1)
        factors = torch._foreach_mul(grads, prevs)
        # 掩码赋值没有 foreach 版本，只能逐个张量做（torch 也是如此）
        flipped = [self._factor_inplace_(f, etaminus, etaplus) for f in factors]
        torch._foreach_mul_(step_sizes, factors)
        torch._foreach_clamp_min_(step_sizes, step_size_min)
        torch._foreach_clamp_max_(step_sizes, step_size_max)
        grads = [g.masked_fill(mask, 0) for g, mask in zip(grads, flipped)]
        torch._foreach_addcmul_(params, torch._foreach_sign(grads), step_sizes, value=-1)
        torch._foreach_copy_(prevs, grads)
