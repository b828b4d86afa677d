r"""Muon（Keller Jordan, 2024）：动量之后把更新矩阵“正交化”，只用于二维参数。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from .optimizer import Group, Optimizer, States, Tensors

__all__ = ["Muon"]

_ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


def zeropower_via_newtonschulz(
    matrix: torch.Tensor, ns_coefficients: tuple, ns_steps: int, eps: float
) -> torch.Tensor:
    """用 Newton–Schulz 五次迭代近似 ``U V^T``（在 bfloat16 中计算，形状与输入相同）。"""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if matrix.dim() != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = ns_coefficients
    tall = matrix.size(0) > matrix.size(1)
    x = matrix.bfloat16()
    if tall:  # 让 X X^T 是两边中较小的方阵
        x = x.T
    x.div_(x.norm().clamp(min=eps))  # 奇异值缩到 [0, 1]，迭代才收敛
    for _ in range(ns_steps):
        gram = x @ x.T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b·G + c·G²
        x = torch.addmm(x, poly, x, beta=a)  # a·X + (b·G + c·G²)·X
    return x.T if tall else x


def adjusted_lr(lr, adjust_lr_fn: str | None, shape: torch.Size):
    """让不同形状矩阵的正交化更新有可比的 RMS。"""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1.0, rows / cols))
    return lr * 0.2 * math.sqrt(max(rows, cols))


class Muon(Optimizer):
    r"""Muon（Keller Jordan, 2024）：动量之后把更新矩阵“正交化”，只用于二维参数。

    .. math::
        \begin{aligned}
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \\
        & B_t \leftarrow \mu B_{t-1} + (1-\mu)\, g_t \qquad(\text{动量缓冲，指数移动平均}) \\
        & \widetilde B_t \leftarrow \begin{cases}
            (1-\mu)\, g_t + \mu B_t & \text{nesterov} \\
            B_t & \text{否则} \end{cases} \\
        & O_t \leftarrow \mathrm{NS}^{(a,b,c)}_k(\widetilde B_t;\ \varepsilon) \\
        & \theta_t \leftarrow \theta_{t-1}(1 - \gamma\lambda) \qquad(\text{解耦的权重衰减}) \\
        & \theta_t \leftarrow \theta_t - \mathrm{AdjustLR}(\gamma;\ A\times B)\, O_t
        \end{aligned}

    Newton–Schulz 迭代 :math:`\mathrm{NS}`：想要的是 :math:`\widetilde B = U\Sigma V^\top` 的“正交部分”
    :math:`UV^\top`（所有奇异值换成 1），但 SVD 太贵。先除以 Frobenius 范数（下限 ε）让奇异值落进
    [0, 1]，再做 k 次只含矩阵乘法的五次多项式迭代

    .. math::
        X \leftarrow aX + b\,(XX^\top)X + c\,(XX^\top)^2X,

    每个奇异值 σ 被映射成 :math:`a\sigma + b\sigma^3 + c\sigma^5`。默认系数 (3.4445, −4.775, 2.0315)
    让小奇异值迅速长大、所有奇异值最后都在 1 附近摆动（不精确收敛到 1，但足够好、很快）。
    与 torch 一致：迭代在 bfloat16 中进行；行数多于列数时先转置，让 :math:`XX^\top` 取较小的那一边。

    学习率调整 ``adjust_lr_fn``（A、B 为参数的两个维度）：

    * ``None`` / ``"original"``（Keller 的做法）：:math:`\gamma\sqrt{\max(1, A/B)}`；
    * ``"match_rms_adamw"``（Moonshot，《Muon is Scalable for LLM Training》）：
      :math:`0.2\,\gamma\sqrt{\max(A, B)}`，让更新的 RMS 与 AdamW 相当，可直接沿用 AdamW 的超参数。

    注意 torch 文档里写的 :math:`B_t \leftarrow \mu B_{t-1} + g_t`，而实际代码（也就是这里复现的）是
    指数移动平均 ``lerp``。Muon 没有 ``maximize``、``foreach``、``differentiable`` 选项。
    """

    arg_docs: ClassVar[dict[str, str]] = {"eps": "Newton–Schulz 迭代前除以的 Frobenius 范数的下限", "weight_decay": "解耦的权重衰减 λ", "momentum": "动量缓冲的指数移动平均系数 μ"}  # 与通用说明不同的参数（见 optlab._docs）

    complex_as_real = False  # torch 在 step 时拒绝复数参数，不把它们视为实数

    def __init__(
        self,
        params,
        lr=1e-3,
        weight_decay=0.1,
        momentum=0.95,
        nesterov=True,
        ns_coefficients=(3.4445, -4.775, 2.0315),
        eps=1e-7,
        ns_steps=5,
        adjust_lr_fn=None,
    ):
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn not in _ADJUST_LR_FNS:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
        }
        super().__init__(params, defaults)
        # 与 torch 相同：只检查构造时给出的参数，之后 add_param_group 不再检查
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        "Muon only supports 2D parameters whereas we found a parameter "
                        f"with size: {p.size()}"
                    )

    def init_state(self, group: Group, param: torch.Tensor) -> dict | None:
        return {"momentum_buffer": torch.zeros_like(param, memory_format=torch.preserve_format)}

    def update(self, group: Group, params: Tensors, grads: Tensors, states: States) -> None:
        lr, weight_decay, momentum = group["lr"], group["weight_decay"], group["momentum"]
        for param, grad, state in zip(params, grads, states):
            if torch.is_complex(param):
                raise RuntimeError("Muon does not support complex parameters")
            buf = state["momentum_buffer"]
            buf.lerp_(grad, 1 - momentum)
            update = grad.lerp(buf, momentum) if group["nesterov"] else buf
            ortho = zeropower_via_newtonschulz(
                update, group["ns_coefficients"], group["ns_steps"], group["eps"]
            )
            param.mul_(1 - lr * weight_decay)
            param.add_(ortho, alpha=-adjusted_lr(lr, group["adjust_lr_fn"], param.shape))
