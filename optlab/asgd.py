r"""ASGD（Polyak & Juditsky, 1992，*Acceleration of Stochastic Approximation by Averaging*）：平均随机梯度下降。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ._checks import check_lr, check_non_negative
from ._ops import apply_weight_decay, apply_weight_decay_foreach, as_float
from .optimizer import Group, Optimizer, States, Tensors, scalar_dtype

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""ASGD（Polyak & Juditsky, 1992，*Acceleration of Stochastic Approximation by Averaging*）：平均随机梯度下降。

    .. math::
        \begin{aligned}
        & \eta_0 \leftarrow \gamma, \quad \mu_0 \leftarrow 1, \quad a_0 \leftarrow 0 \\
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \textbf{if } \lambda_{wd} \ne 0:\; g_t \leftarrow g_t + \lambda_{wd}\theta_{t-1} \\
        & \theta_t \leftarrow \theta_{t-1}(1 - \lambda\eta_{t-1}) - \eta_{t-1} g_t \\
        & a_t \leftarrow \begin{cases} \theta_t & \mu_{t-1} = 1 \\
            a_{t-1} + \mu_{t-1}(\theta_t - a_{t-1}) & \text{否则} \end{cases} \\
        & \eta_t \leftarrow \gamma / (1 + \lambda\gamma t)^{\alpha} \\
        & \mu_t \leftarrow 1 / \max(1,\; t - t_0)
        \end{aligned}

    :math:`\gamma` 为学习率，:math:`\lambda` 为 ``lambd``（衰减项），:math:`\alpha` 为 ``alpha``，
    :math:`t_0` 为开始平均的步数。状态 ``eta`` 是逐步减小的步长，``ax`` 是参数的移动平均
    （在 :math:`t_0` 之前 :math:`\mu=1`，``ax`` 只是参数的拷贝；之后它是从 :math:`t_0` 起所有参数的算术平均）。
    注意：``step`` 只更新参数，平均值 ``ax`` 需要用户自己从 ``optimizer.state`` 里取出来用。
    """

    number_hyperparams = ("weight_decay",)  # torch 的 for-loop 把它们当作数用

    arg_docs: ClassVar[dict[str, str]] = {"alpha": "α：步长 η_t 衰减的幂次", "lambd": "λ：衰减项，同时出现在参数收缩与步长衰减里"}  # 与通用说明不同的参数（见 optlab._docs）

    def __init__(
        self,
        params,
        lr=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        check_lr(lr)
        check_non_negative("weight_decay", weight_decay)
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        dtype, device = scalar_dtype(), param.device
        return {
            "step": torch.zeros((), dtype=dtype, device=device),
            # 张量 lr 先取成数：eta 是 0 维的独立状态，不连着 lr 的计算图，形状也不随 lr
            "eta": torch.tensor(as_float(group["lr"]), dtype=dtype, device=device),
            "mu": torch.ones((), dtype=dtype, device=device),
            "ax": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    @staticmethod
    def _schedule(group, step_t, eta, mu, *, tensor_eta=False):
        """第 t 步之后，原地写入新的步长 eta 与平均系数 mu。

        ``tensor_eta=True`` 时 eta 直接用 step 张量计算（精度为状态的 dtype）：torch 的 foreach
        路径就是这样算的，for-loop 路径则先取出 Python 数用双精度算。两者可差 1 ulp。
        """
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        lr = as_float(lr)  # 与 torch 一样，张量 lr 在这里只当作数（eta 不连着 lr 的计算图）
        if group["tensor_steps"]:  # 全程张量运算，不把 step 同步回 CPU
            eta.copy_(lr / ((1 + lambd * lr * step_t) ** alpha))
            mu.copy_(1 / torch.clamp(step_t - t0, min=1))
            return
        step = step_t.item()
        if tensor_eta:
            eta.copy_(lr / ((1 + lambd * lr * step_t) ** alpha))
        else:
            eta.fill_(lr / ((1 + lambd * lr * step) ** alpha))
        mu.fill_(1 / max(1, step - t0))

    def tensor_policy(self, group):
        # 与 torch 一样：t、η、μ 只在 capturable 时保持张量（编译时基类也改为保持张量）
        return bool(group["capturable"] or group["differentiable"]), bool(group["capturable"])

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        on_device = group["tensor_steps"]  # capturable 或编译时：η、μ 留作张量，不取成 Python 数
        lambd, weight_decay = group["lambd"], group["weight_decay"]
        self.check_capturable_devices(group, params, [s["step"] for s in states])
        for param, grad, state in zip(params, grads, states):
            step_t, eta, mu, ax = state["step"], state["eta"], state["mu"], state["ax"]
            step_t += 1
            grad = apply_weight_decay(param, grad, None, weight_decay)

            if on_device:
                param.mul_(1 - lambd * eta)
                param.addcmul_(grad, eta, value=-1)
            else:
                eta_value = eta.item()
                param.mul_(1 - lambd * eta_value)
                param.add_(grad, alpha=-eta_value)

            # mu 为 1 时平均值就是参数本身，直接拷贝更省也更准
            if on_device or mu.item() != 1:
                ax.add_(param.sub(ax).mul_(mu))
            else:
                ax.copy_(param)

            self._schedule(group, step_t, eta, mu)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        lambd, weight_decay = group["lambd"], group["weight_decay"]
        steps = [s["step"] for s in states]
        self.check_capturable_devices(group, params, steps)
        etas, mus, axs = ([s[k] for s in states] for k in ("eta", "mu", "ax"))

        torch._foreach_add_(steps, 1)
        grads = apply_weight_decay_foreach(params, grads, None, weight_decay)
        # θ(1 - λη) - ηg = θ - η(g + λθ)：合成一次 addcmul；η、μ 直接用状态张量，不必逐个 .item()
        decayed_grads = torch._foreach_add(grads, params, alpha=lambd)
        torch._foreach_addcmul_(params, decayed_grads, etas, value=-1)
        del decayed_grads
        # μ = 1 时 a + μ(θ - a) 与 θ 至多差一次舍入：与 torch 的 foreach 一样不分情况
        torch._foreach_addcmul_(axs, torch._foreach_sub(params, axs), mus)

        for step_t, eta, mu in zip(steps, etas, mus):
            self._schedule(group, step_t, eta, mu, tensor_eta=True)
