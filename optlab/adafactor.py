r"""Adafactor（Shazeer & Stern, 2018，《Adaptive Learning Rates with Sublinear Memory Cost》）。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ._ops import apply_weight_decay, apply_weight_decay_foreach, as_float
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["Adafactor"]


def _mean_square(grad: torch.Tensor, dim: int) -> torch.Tensor:
    """沿 ``dim`` 的均方值（先求范数再平方，与 torch 的舍入一致）。"""
    return torch.linalg.vector_norm(grad, dim=dim, keepdim=True).square_().div_(grad.size(dim))


# 步长里的几个标量：eager 时与 torch 一样取成 Python 数（双精度）；编译时 t 是 step 张量，
# 它们都留作 0 维张量，免得 .item() 或 Python 的 min/max 比较张量而断开计算图。
def _norm(x: torch.Tensor, keep: bool) -> torch.Tensor | float:
    r""":math:`\lVert x \rVert_2`：``keep`` 时是 0 维张量，否则 Python 数。"""
    return x.norm(2) if keep else x.norm(2).item()


def _min(a, b):
    """``min(a, b)``，b 可以是 0 维张量。"""
    return torch.clamp(b, max=a) if isinstance(b, torch.Tensor) else min(a, b)


def _max(a, b):
    """``max(a, b)``，b 可以是 0 维张量。"""
    return torch.clamp(b, min=a) if isinstance(b, torch.Tensor) else max(a, b)


class Adafactor(Optimizer):
    r"""Adafactor（Shazeer & Stern, 2018，《Adaptive Learning Rates with Sublinear Memory Cost》）。

    二阶矩不再逐元素保存：对 n×m 的矩阵只存行均值 R（n×1）和列均值 C（1×m），用秩 1 的外积
    :math:`R C / \mathrm{mean}(R)` 还原整张 :math:`\widehat V`，内存从 O(nm) 降到 O(n+m)。

    .. math::
        \begin{aligned}
        & G_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -G_t) \\
        & \widehat\beta_{2_t} \leftarrow 1 - t^{\tau} \qquad(\tau = \text{beta2\_decay} \le 0) \\
        & \rho_t \leftarrow \min(\gamma, 1/\sqrt t), \qquad
          \alpha_t \leftarrow \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\,\rho_t \\
        & \theta_t \leftarrow \theta_{t-1} - \gamma\lambda\theta_{t-1} \\
        & \textbf{if } \dim(G_t) > 1: \\
        & \quad R_t \leftarrow \widehat\beta_{2_t} R_{t-1} + (1-\widehat\beta_{2_t})\,
            \mathrm{mean}_{\text{行}}(G_t \odot G_t) \\
        & \quad C_t \leftarrow \widehat\beta_{2_t} C_{t-1} + (1-\widehat\beta_{2_t})\,
            \mathrm{mean}_{\text{列}}(G_t \odot G_t) \\
        & \quad \widehat V_t \leftarrow R_t C_t / \max(\mathrm{mean}(R_t), \epsilon_1) \\
        & \textbf{else}: \; \widehat V_t \leftarrow \widehat\beta_{2_t}\widehat V_{t-1}
            + (1-\widehat\beta_{2_t})\, G_t \odot G_t \\
        & U_t \leftarrow G_t / \max(\sqrt{\widehat V_t}, \epsilon_1), \qquad
          \widehat U_t \leftarrow U_t / \max(1, \mathrm{RMS}(U_t)/d) \\
        & \theta_t \leftarrow \theta_t - \alpha_t \widehat U_t
        \end{aligned}

    与论文不同处（与 torch 一致）：``lr`` 是相对步长 ρ 的上限并用于解耦的权重衰减；ε₁ 不加进 R、C，
    而是在 :math:`\widehat V` 的分母和 U 的分母上兜底；ε₁ 为 None 时取参数 dtype 的机器精度。
    超过二维的参数按最后两维分解（R 形如 [..., n, 1]，C 形如 [..., 1, m]）。
    ``foreach=None`` 时走 for-loop（省内存是 Adafactor 的本意），只有显式 ``foreach=True`` 才走多张量路径。
    """

    arg_docs: ClassVar[dict[str, str]] = {"lr": "相对步长 ρ 的上限，也用于解耦的权重衰减", "eps": "(ε₁, ε₂)：ε₁ 兜底二阶矩估计（None 时取机器精度），ε₂ 兜底参数 RMS"}  # 与通用说明不同的参数（见 optlab._docs）

    complex_as_real = False  # torch 在 step 时拒绝复数参数

    def __init__(
        self,
        params,
        lr=1e-2,
        beta2_decay=-0.8,
        eps=(None, 1e-3),
        d=1.0,
        weight_decay=0.0,
        *,
        foreach=None,
        maximize=False,
    ):
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": eps,
            "d": d,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        state = {"step": self.new_step_counter(group, param)}
        if param.dim() > 1:
            state["row_var"] = param.new_zeros(param.shape[:-1] + (1,))
            state["col_var"] = param.new_zeros(param.shape[:-2] + (1, param.shape[-1]))
        else:
            state["variance"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        return state

    def use_foreach(self, group, params, grads):
        return bool(group["foreach"])  # None 也走 for-loop

    def check_step_inputs(self, group, foreach):
        super().check_step_inputs(group, foreach)
        if "maximize" not in group:  # torch 的 Adafactor 在更新之前就读这个键，缺了报 KeyError
            raise KeyError("maximize")

    @staticmethod
    def _check_steps(states):
        """torch 在读任何超参数之前先取每个状态的步数：载入的是别的算法的状态时，同样报 KeyError。"""
        for state in states:
            if "step" not in state:
                raise KeyError("step")

    @staticmethod
    def _eps1(group, params):
        """ε₁ 为 None 时取机器精度；与 torch 一样，整组都用本组第一个（有梯度的）参数的 dtype。"""
        eps1 = group["eps"][0]
        if eps1 is not None:
            return eps1
        first = next(p for p in group["params"] if p.grad is not None)
        return torch.finfo(first.dtype).eps

    @staticmethod
    def _schedule(group, step, param: torch.Tensor) -> tuple:
        """返回 (1 - β̂₂, α)：β̂₂ 随步数趋近 1，α = 相对步长 × 参数 RMS。

        ``step`` 是 Python 数（eager）或 step 张量（编译时，结果也是 0 维张量）。
        """
        keep = isinstance(step, torch.Tensor)
        one_minus_beta2 = step ** group["beta2_decay"]
        rho = _min(group["lr"], 1 / step**0.5)  # 张量 lr 保持张量（与 torch 的舍入一致）
        alpha = _max(group["eps"][1], _norm(param, keep) / param.numel() ** 0.5) * rho
        return one_minus_beta2, alpha

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        if any(torch.is_complex(p) for p in params):
            raise RuntimeError("Adafactor does not support complex parameters")
        self._check_steps(states)
        eps1, lr, weight_decay = self._eps1(group, params), group["lr"], group["weight_decay"]
        keep = group["tensor_steps"]
        for param, grad, state in zip(params, grads, states):
            state["step"].add_(1)  # t ← t + 1（原地加：不把张量重新存回状态字典）
            t = state["step"] if keep else state["step"].item()
            one_minus_beta2, alpha = self._schedule(group, t, param)
            apply_weight_decay(param, grad, lr, weight_decay, decoupled=True)

            if grad.dim() > 1:
                row_var, col_var = state["row_var"], state["col_var"]
                row_var.lerp_(_mean_square(grad, -1), one_minus_beta2)
                col_var.lerp_(_mean_square(grad, -2), one_minus_beta2)
                # 秩 1 还原：V ≈ R C / mean(R)
                var_estimate = row_var @ col_var
                var_estimate.div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
            else:
                state["variance"].lerp_(grad * grad, one_minus_beta2)
                var_estimate = state["variance"].clone()

            update = var_estimate.clamp_(min=eps1 * eps1).rsqrt_().mul_(grad)
            # 更新裁剪：RMS(U) 超过 d 时整体缩小
            clip = _max(1.0, _norm(update, keep) / (update.numel() ** 0.5 * group["d"]))
            param.add_(update, alpha=-alpha / clip)

    def update_foreach(
        self, group: Group, params: Tensors, grads: Tensors, states: States
    ) -> None:
        if any(torch.is_complex(p) for p in params):
            raise RuntimeError("Adafactor does not support complex parameters")
        self._check_steps(states)
        eps1, lr, weight_decay = self._eps1(group, params), group["lr"], group["weight_decay"]
        keep = group["tensor_steps"]
        steps = self.advance_steps(group, params, states)
        one_minus_beta2s, alphas = zip(
            *(self._schedule(group, t, p) for t, p in zip(steps, params))
        )
        apply_weight_decay_foreach(params, grads, lr, weight_decay, decoupled=True)

        var_estimates: list[torch.Tensor | None] = [None] * len(params)
        matrix = [i for i, g in enumerate(grads) if g.dim() > 1]
        vector = [i for i, g in enumerate(grads) if g.dim() <= 1]
        # 移动平均逐个 lerp_（与 torch 相同）：CPU 上带标量列表的 foreach 乘法要为每个标量建张量，反而更慢
        if matrix:
            for key, dim in (("row_var", -1), ("col_var", -2)):
                for i in matrix:
                    states[i][key].lerp_(_mean_square(grads[i], dim), one_minus_beta2s[i])
            for i in matrix:
                row_var, col_var = states[i]["row_var"], states[i]["col_var"]
                var_estimates[i] = (row_var @ col_var).div_(
                    row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1)
                )
        if vector:
            vector_grads = [grads[i] for i in vector]
            squares = torch._foreach_mul(vector_grads, vector_grads)
            for i, square in zip(vector, squares):
                states[i]["variance"].lerp_(square, one_minus_beta2s[i])
                var_estimates[i] = states[i]["variance"].clone()

        updates = var_estimates  # 都是新算出的张量，可以原地改
        torch._foreach_clamp_min_(updates, eps1 * eps1)
        torch._foreach_rsqrt_(updates)
        torch._foreach_mul_(updates, grads)
        clips = [
            _max(1.0, _norm(u, keep) / (u.numel() ** 0.5 * group["d"])) for u in updates
        ]
        scales = [-a / c for a, c in zip(alphas, clips)]
        torch._foreach_mul_(updates, scales if keep else [as_float(s) for s in scales])
        torch._foreach_add_(params, updates)
