r"""SparseAdam：只在稀疏梯度出现的位置上做 Adam（“带掩码的 Adam”）。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

import torch

from ._checks import check_beta_range
from ._ops import bias_correction
from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["SparseAdam"]


class SparseAdam(Optimizer):
    r"""SparseAdam：只在稀疏梯度出现的位置上做 Adam（“带掩码的 Adam”）。

    参数是稠密的，梯度是稀疏布局（例如 ``nn.Embedding(sparse=True)`` 的梯度）。设本步梯度里出现的
    下标集合为 :math:`S`，只有这些位置的一阶矩、二阶矩和参数会变，其他位置原封不动：

    .. math::
        \begin{aligned}
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{稀疏；maximize 时取 } -g_t) \\
        & m_t[S] \leftarrow \beta_1 m_{t-1}[S] + (1-\beta_1)\, g_t[S] \\
        & v_t[S] \leftarrow \beta_2 v_{t-1}[S] + (1-\beta_2)\, g_t[S]^2 \\
        & \theta_t[S] \leftarrow \theta_{t-1}[S] - \gamma\,
            \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}\cdot
            \frac{m_t[S]}{\sqrt{v_t[S]} + \epsilon}
        \end{aligned}

    偏差修正里的 t 是这个参数被更新的次数（状态里的 ``step``，与 torch 一样是 Python 整数），
    不是某一行被更新的次数——所以很少出现的行，修正系数并不“准确”，这是近似的代价。
    与 torch 一样：稀疏布局里“存在”的值都当作非零，不检查它们是不是真的为 0。
    算法来自 Adam（Kingma & Ba, 2015）。
    """

    complex_as_real = False  # 构造时已拒绝复数参数
    supports_sparse_grad = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_beta_range(betas)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)

        # 与 torch 相同：只检查构造时的参数，报出所有违规参数的 [组号, 序号]
        for kind, bad, message in (
            ("Sparse", lambda p: p.is_sparse, "SparseAdam requires dense parameter tensors"),
            ("Complex", torch.is_complex, "SparseAdam does not support complex parameters"),
        ):
            where = [
                [i, j]
                for i, group in enumerate(self.param_groups)
                for j, p in enumerate(group["params"])
                if bad(p)
            ]
            if where:
                raise ValueError(f"{kind} params at indices {where}: {message}")

    @torch.compiler.disable  # dynamo 不追踪稀疏张量：整步在编译图之外运行（torch 也这样，只断开一次）
    def step(self, closure=None):
        return super().step(closure)

    def collect(self, group):
        # 先查梯度布局再建状态：出错时不留下半初始化的状态（与 torch 一致）
        for p in group["params"]:
            if p.grad is not None and not p.grad.is_sparse:
                raise RuntimeError(
                    "SparseAdam does not support dense gradients, please consider Adam instead"
                )
        return super().collect(group)

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        return {
            "step": 0,
            "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
        }

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for param, grad, state in zip(params, grads, states):
            state["step"] += 1
            step = state["step"]
            # 合并重复下标后，每个位置只出现一次，可以放心地按下标读写
            grad = grad.coalesce()
            where = tuple(grad.indices())
            values = grad.values()

            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            if param.dim() == 0:  # 0 维参数的稀疏梯度没有下标：当作只有一个元素的向量（共享存储的视图）
                param, exp_avg, exp_avg_sq = param.view(1), exp_avg.view(1), exp_avg_sq.view(1)
                where = (torch.zeros(values.numel(), dtype=torch.long, device=param.device),)
            m = exp_avg[where]
            m += (values - m) * (1 - beta1)
            v = exp_avg_sq[where]
            v += (values * values - v) * (1 - beta2)
            exp_avg.index_put_(where, m)
            exp_avg_sq.index_put_(where, v)

            step_size = lr * bias_correction(beta2, step) ** 0.5 / bias_correction(beta1, step)
            param.index_put_(where, m / v.sqrt().add_(eps) * -step_size, accumulate=True)
