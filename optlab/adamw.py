r"""AdamW（Loshchilov & Hutter, 2019）：把权重衰减从梯度里“解耦”出来的 Adam。

算法框与说明见类的文档字符串（``help(optlab.AdamW)``）。
"""

from __future__ import annotations

from .adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    r"""AdamW（Loshchilov & Hutter, 2019）：把权重衰减从梯度里“解耦”出来的 Adam。

    .. math::
        \begin{aligned}
        & g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \quad(\text{maximize 时取 } -g_t) \\
        & \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
            \qquad(\text{衰减直接作用在参数上，不进梯度}) \\
        & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
          v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        & \textbf{if amsgrad}: \; v^{\max}_t \leftarrow \max(v^{\max}_{t-1}, v_t)
            \qquad(\text{下一行的 } v_t \text{ 换成 } v^{\max}_t) \\
        & \theta_t \leftarrow \theta_{t-1} - \gamma\, \frac{m_t / (1-\beta_1^t)}
            {\sqrt{v_t / (1-\beta_2^t)} + \epsilon}
        \end{aligned}

    与 Adam 的唯一区别是权重衰减 :math:`\theta_{t-1}(1 - \gamma\lambda)` 直接作用在参数上，
    而不是加进梯度 :math:`g_t + \lambda\theta_{t-1}`（那样会被自适应分母缩放，衰减强度因坐标而异）。
    其余步骤与 :class:`optlab.Adam` 完全相同，所以这里只改默认值（``weight_decay=1e-2``）。
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state):
        super().__setstate__(state)
        # 与 torch 相同：AdamW 总是解耦的，哪怕载入的是 Adam 的 state_dict（其中为 False）
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
