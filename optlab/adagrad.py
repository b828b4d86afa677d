r"""Adagrad（Duchi, Hazan & Singer, 2011）：每个坐标的学习率按历史梯度平方和缩小。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

import torch

from ._checks import (
    check_eps,
    check_fused_flags,
    check_fused_params,
    check_lr,
    check_non_negative,
)
from ._ops import add_eps, apply_weight_decay, apply_weight_decay_foreach, as_float
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad（Duchi, Hazan & Singer, 2011）：每个坐标的学习率按历史梯度平方和缩小。

    .. math::
        \begin{aligned}
        & \textbf{初始化：} s_0 \leftarrow \tau \quad(\text{initial\_accumulator\_value}) \\
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \tilde\gamma \leftarrow \gamma / (1 + (t-1)\eta) \quad(\eta\text{：lr\_decay}) \\
        & \textbf{if } \lambda \ne 0:\; g_t \leftarrow g_t + \lambda \theta_{t-1} \\
        & s_t \leftarrow s_{t-1} + g_t^2 \\
        & \theta_t \leftarrow \theta_{t-1} - \tilde\gamma\, g_t / (\sqrt{s_t} + \epsilon)
        \end{aligned}

    论文：*Adaptive Subgradient Methods for Online Learning and Stochastic Optimization*（JMLR 2011）。
    状态 ``sum`` 在构造优化器时就建好（与 torch 相同，state_dict 立刻可见）。
    稀疏梯度（如 ``nn.Embedding(sparse=True)``）只更新出现过的行。
    ``fused=True`` 运行由 ``torch.compile`` 从逐张量公式编译出的融合内核（见 ``optlab._fused``），
    数值与 torch 的 fused 内核一致到 torch 自己在 fused 与 foreach 之间允许的容差。
    """

    number_hyperparams = ("weight_decay",)  # torch 的 for-loop 把它们当作数用

    supports_sparse_grad = True

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        check_lr(lr)
        check_non_negative("lr_decay", lr_decay)
        check_non_negative("weight_decay", weight_decay)
        check_non_negative("initial_accumulator_value", initial_accumulator_value)
        check_eps(eps)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        check_fused_flags(fused, foreach, differentiable)
        # 与 torch 一致：构造时就为每个参数建立状态；之后 add_param_group 加入的参数在第一步惰性建立
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self.init_state(group, p)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        # 与 torch 相同：初值总取构造函数的 initial_accumulator_value，参数组里的同名选项不起作用
        init = self.defaults["initial_accumulator_value"]
        if torch.is_complex(param):  # 实部、虚部各自是一个坐标，都从 τ 开始累积
            init = complex(init, init)
        return {
            "step": self.new_step_counter(group, param),
            "sum": torch.full_like(param, init, memory_format=torch.preserve_format),
        }

    def share_memory(self):
        """把累积量放进共享内存（多进程 Hogwild 训练用）。"""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()

    def tensor_policy(self, group):
        # 与 torch 一样：t 取成 Python 数（differentiable 时也是）；编译时基类改为保持张量
        return bool(group["differentiable"]), False

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        # lr 原样参与运算：张量 lr 与 torch 一样被当作数使用
        lr, lr_decay = group["lr"], group["lr_decay"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        differentiable = group["differentiable"]
        for param, grad, state in zip(params, grads, states):
            state["step"].add_(1)  # t ← t + 1（原地加：不把张量重新存回状态字典）
            t = state["step"] if group["tensor_steps"] else state["step"].item()
            clr = lr / (1 + (t - 1) * lr_decay)
            state_sum = state["sum"]
            if grad.is_sparse:
                if weight_decay != 0:
                    raise RuntimeError(
                        "weight_decay option is not compatible with sparse gradients"
                    )
                self._sparse_update(param, grad, state_sum, clr, eps)
                continue
            grad = apply_weight_decay(param, grad, lr, weight_decay)
            state_sum.addcmul_(grad, grad, value=1)
            std = add_eps(state_sum.sqrt(), eps, differentiable)
            param.addcdiv_(grad, std, value=-clr)

    @staticmethod
    def _sparse_update(param, grad, state_sum, clr, eps):
        """稀疏梯度：只在梯度出现的位置累积与更新，其余坐标保持不动。"""
        grad = grad.coalesce()  # 合并重复下标，否则同一行的平方会被分开累加
        indices, values = grad._indices(), grad._values()

        def on_grad_rows(v):
            return torch.sparse_coo_tensor(indices, v, grad.size(), check_invariants=False)

        state_sum.add_(on_grad_rows(values.pow(2)))
        std_values = state_sum.sparse_mask(grad)._values().sqrt_().add_(eps)
        param.add_(on_grad_rows(values / std_values), alpha=-clr)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        if group["fused"]:
            self._check_fused(group)
        lr, lr_decay = as_float(group["lr"]), group["lr_decay"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        sums = [s["sum"] for s in states]

        steps = self.advance_steps(group, params, states)
        grads = apply_weight_decay_foreach(params, grads, lr, weight_decay)
        torch._foreach_addcmul_(sums, grads, grads, 1)
        std = torch._foreach_sqrt(sums)
        torch._foreach_add_(std, eps)
        minus_clr = [-lr / (1 + (t - 1) * lr_decay) for t in steps]
        if group["tensor_steps"]:  # 编译时步长是张量：_foreach_addcdiv_ 只收数，分开写
            torch._foreach_add_(params, torch._foreach_mul(torch._foreach_div(grads, std), minus_clr))
        else:
            torch._foreach_addcdiv_(params, grads, std, minus_clr)

    @staticmethod
    def _check_fused(group):
        # 基类交来的是复数参数的实数视图，所以拿原参数检查
        originals = [p for p in group["params"] if p.grad is not None]
        check_fused_params(originals)
        if any(p.grad.is_sparse for p in originals):
            raise RuntimeError("`fused` does not support sparse grad or complex param")
