r"""RMSprop（Hinton 课程讲义，2012）：用梯度平方的指数移动平均来缩放步长。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ._checks import check_eps, check_lr, check_non_negative
from ._ops import add_eps, apply_weight_decay, apply_weight_decay_foreach, as_float, ema_, ema_sq_
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop（Hinton 课程讲义，2012）：用梯度平方的指数移动平均来缩放步长。

    .. math::
        \begin{aligned}
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \textbf{if } \lambda \ne 0:\; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
        & v_t \leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2, \qquad \tilde v_t \leftarrow v_t \\
        & \textbf{if centered}:\; \bar g_t \leftarrow \alpha \bar g_{t-1} + (1-\alpha) g_t,\;
            \tilde v_t \leftarrow \tilde v_t - \bar g_t^2 \\
        & \textbf{if } \mu > 0:\; b_t \leftarrow \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon),\;
            \theta_t \leftarrow \theta_{t-1} - \gamma b_t \\
        & \textbf{else}:\; \theta_t \leftarrow \theta_{t-1} - \gamma\, g_t / (\sqrt{\tilde v_t} + \epsilon)
        \end{aligned}

    出处：Hinton《Neural Networks for Machine Learning》第 6e 讲；centered 版本见 Graves (2013)
    *Generating Sequences With Recurrent Neural Networks*。注意 :math:`\epsilon` 加在根号外面。

    与 torch 2.13 有意不同的一处：``differentiable=True`` 且 ``eps`` 或 ``momentum`` 是要求梯度的张量时，
    torch 在某些设置下（例如 ``centered=True`` 且带动量与权重衰减）反向传播报 RuntimeError（它原地改了反向要用的张量）；这里给出正确的梯度（测试用中心差分核对）。
    """

    number_hyperparams = ("alpha", "weight_decay")  # torch 的 for-loop 把它们当作数用

    arg_docs: ClassVar[dict[str, str]] = {"alpha": "α：梯度平方的指数移动平均系数（平滑常数）"}  # 与通用说明不同的参数（见 optlab._docs）

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        check_lr(lr)
        check_eps(eps)
        check_non_negative("momentum", momentum)
        check_non_negative("weight_decay", weight_decay)
        check_non_negative("alpha", alpha)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        def zeros():
            return torch.zeros_like(param, memory_format=torch.preserve_format)

        state = {"step": self.new_step_counter(group, param), "square_avg": zeros()}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros()
        if group["centered"]:
            state["grad_avg"] = zeros()
        return state

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, alpha, eps, momentum = group["lr"], group["alpha"], group["eps"], group["momentum"]
        differentiable = group["differentiable"]
        self.check_capturable_devices(group, params, [s["step"] for s in states])
        for param, grad, state in zip(params, grads, states):
            state["step"].add_(1)  # t ← t + 1（原地加：不把张量重新存回状态字典）
            grad = apply_weight_decay(param, grad, lr, group["weight_decay"])
            v = ema_sq_(state["square_avg"], grad, alpha)
            if group["centered"]:
                g_bar = ema_(state["grad_avg"], grad, alpha)
                if differentiable:  # 下一步还会原地改 grad_avg，反向传播要用的是这一步的值
                    g_bar = g_bar.clone()
                # 减去均值的平方 = 方差估计，比未中心化的二阶矩更小，步长更大
                avg = v.addcmul(g_bar, g_bar, value=-1).sqrt_()
            else:
                avg = v.sqrt()
            avg = add_eps(avg, eps, differentiable)
            if momentum > 0:
                buf = state["momentum_buffer"]
                buf.mul_(momentum).addcdiv_(grad, avg)
                param.add_(buf, alpha=-lr)
            else:
                param.addcdiv_(grad, avg, value=-lr)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        steps = [s["step"] for s in states]
        self.check_capturable_devices(group, params, steps)
        square_avgs = [s["square_avg"] for s in states]

        torch._foreach_add_(steps, 1)
        grads = apply_weight_decay_foreach(params, grads, lr, weight_decay)
        torch._foreach_mul_(square_avgs, alpha)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
        if group["centered"]:
            grad_avgs = [s["grad_avg"] for s in states]
            torch._foreach_lerp_(grad_avgs, grads, 1 - alpha)
            avg = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
            torch._foreach_sqrt_(avg)
        else:
            avg = torch._foreach_sqrt(square_avgs)
        torch._foreach_add_(avg, eps)

        # capturable 时张量 lr 留在设备上参与运算（不同步到 CPU）
        tensor_lr = group["capturable"] and isinstance(lr, torch.Tensor)
        if tensor_lr:
            lr = lr.to(params[0].device)
        if momentum > 0:
            bufs = [s["momentum_buffer"] for s in states]
            torch._foreach_mul_(bufs, momentum)
            torch._foreach_addcdiv_(bufs, grads, avg)
            if tensor_lr:
                torch._foreach_sub_(params, torch._foreach_mul(bufs, lr))
            else:
                torch._foreach_add_(params, bufs, alpha=-as_float(lr))
        elif tensor_lr:
            torch._foreach_sub_(params, torch._foreach_mul(torch._foreach_div(grads, avg), lr))
        else:
            torch._foreach_addcdiv_(params, grads, avg, value=-as_float(lr))
