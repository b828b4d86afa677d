r"""Adadelta（Zeiler, 2012）：用“过去更新量的均方根 / 过去梯度的均方根”代替全局学习率。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ._checks import check_eps, check_lr, check_non_negative
from ._ops import apply_weight_decay, apply_weight_decay_foreach, as_float, ema_sq_
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta（Zeiler, 2012）：用“过去更新量的均方根 / 过去梯度的均方根”代替全局学习率。

    .. math::
        \begin{aligned}
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \textbf{if } \lambda \ne 0:\; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
        & v_t \leftarrow \rho v_{t-1} + (1-\rho) g_t^2 \\
        & \Delta x_t \leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
        & u_t \leftarrow \rho u_{t-1} + (1-\rho) \Delta x_t^2 \\
        & \theta_t \leftarrow \theta_{t-1} - \gamma \Delta x_t
        \end{aligned}

    论文：*ADADELTA: An Adaptive Learning Rate Method*（arXiv:1212.5701）。
    状态 ``square_avg`` 即 :math:`v`，``acc_delta`` 即 :math:`u`；两个 :math:`\epsilon` 都在根号里面，
    分子的单位与参数相同，所以默认学习率 :math:`\gamma = 1`。
    """

    number_hyperparams = ("rho", "weight_decay")  # torch 的 for-loop 把它们当作数用

    arg_docs: ClassVar[dict[str, str]] = {"lr": "缩放更新量 Δx 的系数 γ"}  # 与通用说明不同的参数（见 optlab._docs）

    def __init__(
        self,
        params,
        lr=1.0,
        rho=0.9,
        eps=1e-6,
        weight_decay=0,
        foreach=None,
        *,
        capturable=False,
        maximize=False,
        differentiable=False,
    ):
        check_lr(lr)
        if not 0.0 <= as_float(rho) <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_eps(eps)
        check_non_negative("weight_decay", weight_decay)
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        return {
            "step": self.new_step_counter(group, param),
            "square_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "acc_delta": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        self.check_capturable_devices(group, params, [s["step"] for s in states])
        for param, grad, state in zip(params, grads, states):
            state["step"].add_(1)  # t ← t + 1（原地加：不把张量重新存回状态字典）
            grad = apply_weight_decay(param, grad, lr, group["weight_decay"])
            v = ema_sq_(state["square_avg"], grad, rho)
            std = v.add(eps).sqrt_()
            delta = state["acc_delta"].add(eps).sqrt_()
            if group["differentiable"]:  # sqrt 的输出要留给反向传播，不能原地改
                delta = delta / std * grad
            else:
                delta.div_(std).mul_(grad)
            ema_sq_(state["acc_delta"], delta, rho)
            param.add_(delta, alpha=-lr)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        weight_decay = group["weight_decay"]
        steps = [s["step"] for s in states]
        self.check_capturable_devices(group, params, steps)
        square_avgs = [s["square_avg"] for s in states]
        acc_deltas = [s["acc_delta"] for s in states]

        torch._foreach_add_(steps, 1)
        grads = apply_weight_decay_foreach(params, grads, lr, weight_decay)
        torch._foreach_mul_(square_avgs, rho)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - rho)
        std = torch._foreach_add(square_avgs, eps)
        torch._foreach_sqrt_(std)
        deltas = torch._foreach_add(acc_deltas, eps)
        torch._foreach_sqrt_(deltas)
        torch._foreach_div_(deltas, std)
        torch._foreach_mul_(deltas, grads)
        torch._foreach_mul_(acc_deltas, rho)
        torch._foreach_addcmul_(acc_deltas, deltas, deltas, value=1 - rho)
        if group["capturable"] and isinstance(lr, torch.Tensor):
            # capturable：张量 lr 留在设备上，不同步到 CPU
            torch._foreach_mul_(deltas, lr.to(params[0].device))
            torch._foreach_sub_(params, deltas)
        else:
            torch._foreach_add_(params, deltas, alpha=-as_float(lr))
