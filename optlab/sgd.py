r"""随机梯度下降（SGD），可选动量、Nesterov 动量与权重衰减。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

import torch

from ._checks import check_fused_flags, check_fused_params, check_lr, check_non_negative
from ._ops import apply_weight_decay, apply_weight_decay_foreach, as_float, needs_grad
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""随机梯度下降（SGD），可选动量、Nesterov 动量与权重衰减。

    .. math::
        \begin{aligned}
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \textbf{if } \lambda \ne 0:\; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
        & \textbf{if } \mu \ne 0: \\
        & \quad b_t \leftarrow \begin{cases} g_t & t = 1 \\ \mu b_{t-1} + (1-\tau) g_t & t > 1 \end{cases} \\
        & \quad g_t \leftarrow \begin{cases} g_t + \mu b_t & \text{nesterov} \\ b_t & \text{否则} \end{cases} \\
        & \theta_t \leftarrow \theta_{t-1} - \gamma g_t
        \end{aligned}

    其中 :math:`\gamma` 为学习率，:math:`\mu` 为动量，:math:`\tau` 为 dampening，:math:`\lambda` 为权重衰减。
    ``fused=True`` 运行由 ``torch.compile`` 从逐张量公式编译出的融合内核（见 ``optlab._fused``），
    数值与 torch 的 fused 内核一致到 torch 自己在 fused 与 foreach 之间允许的容差。
    """

    complex_as_real = False  # SGD 的运算都是线性的，复数参数可以直接更新
    supports_sparse_grad = True
    foreach_rejects_differentiable = False  # torch 的 SGD foreach 路径不检查 differentiable

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        check_lr(lr)
        check_non_negative("momentum", momentum)
        check_non_negative("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        check_fused_flags(fused, foreach, differentiable)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        # 没有动量时 SGD 不保存任何状态；动量缓冲在第一步用梯度本身初始化
        return {} if group["momentum"] != 0 else None

    scalar_hyperparams = ("lr", "weight_decay")

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        for param, grad, state in zip(params, grads, states):
            grad = apply_weight_decay(param, grad, lr, group["weight_decay"])
            if momentum != 0:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.clone().detach()
                else:
                    buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
            if needs_grad(lr):
                param.sub_(grad * lr)  # 让梯度流到张量学习率
            else:
                param.add_(grad, alpha=-lr)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        if group["fused"]:
            check_fused_params(params)
        lr, momentum, dampening = as_float(group["lr"]), group["momentum"], group["dampening"]
        grads = apply_weight_decay_foreach(params, grads, lr, as_float(group["weight_decay"]))
        if momentum != 0:
            # 已有缓冲的一起累积；第一次出现的缓冲直接取梯度本身
            running = [
                (s["momentum_buffer"], g)
                for g, s in zip(grads, states)
                if s.get("momentum_buffer") is not None
            ]
            if running:
                bufs, running_grads = map(list, zip(*running))
                torch._foreach_mul_(bufs, momentum)
                torch._foreach_add_(bufs, running_grads, alpha=1 - dampening)
            for grad, state in zip(grads, states):
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = grad.clone().detach()
            bufs = [s["momentum_buffer"] for s in states]
            grads = torch._foreach_add(grads, bufs, alpha=momentum) if group["nesterov"] else bufs
        torch._foreach_add_(params, grads, alpha=-lr)
