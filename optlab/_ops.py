r"""算法框里反复出现的几行，各写一次：数值与 torch 逐位一致的共享运算。

各算法的 ``update`` 用这些有名字的小块拼出自己的算法框，一行对一行。每个运算有 for-loop
（单个张量）与 foreach（张量列表，名字以 ``_foreach`` 结尾）两种形式。与 torch 对齐所需的
细节——求导时哪些地方不能原地改、``out=`` 与 ``copy_`` 的选择、张量超参数与 Python 数走的
不同运算顺序——都只在这里处理。超参数本身（张量还是 Python 数、``lr`` 的形状）由基类
``Optimizer.hyperparams`` 在调用 ``update`` 之前整理好。
"""

from __future__ import annotations

from typing import Any

import torch

Tensors = list[torch.Tensor]


def as_float(x: Any) -> Any:
    """张量超参数取出 Python 数；Python 数原样返回。"""
    return x.item() if isinstance(x, torch.Tensor) else x


def needs_grad(x: Any) -> bool:
    """differentiable 模式下要把梯度传给它的张量超参数。"""
    return isinstance(x, torch.Tensor) and x.requires_grad


def bias_correction(beta: Any, t: Any) -> Any:
    r""":math:`1 - \beta^t`：从 0 开始的指数移动平均在第 t 步的总权重。

    β 要求梯度时，幂运算要记住 t，而 step 张量下一步会被原地加一：用它的副本。
    """
    if isinstance(t, torch.Tensor) and needs_grad(beta):
        t = t.clone()
    return 1 - beta**t


def bias_corrections(beta: Any, steps: list) -> list:
    """每个参数的 :math:`1 - \\beta^t`（foreach 路径用；一次调用算出整张列表）。"""
    if needs_grad(beta):
        return [bias_correction(beta, t) for t in steps]
    return [1 - beta**t for t in steps]


def to_scalar(x: Any) -> Any:
    """1 元素的张量超参数（形状 [1]、[1, 1] …）变成 0 维张量，其余原样（torch 的 ``_to_scalar``）。"""
    return x.squeeze() if isinstance(x, torch.Tensor) and x.dim() != 0 else x


# ---------------------------------------------------------------------- 权重衰减
def apply_weight_decay(
    param: torch.Tensor, grad: torch.Tensor, lr: Any, weight_decay: Any, decoupled: bool = False
) -> torch.Tensor:
    r""":math:`\lambda \ne 0` 时：解耦 :math:`\theta \leftarrow \theta(1-\gamma\lambda)`（原地），
    或 L2 正则 :math:`g \leftarrow g + \lambda\theta`（新张量）。返回本步要用的梯度。"""
    if weight_decay == 0:
        return grad
    if decoupled:
        param.mul_(1 - lr * weight_decay)
        return grad
    if isinstance(weight_decay, torch.Tensor) and weight_decay.requires_grad:  # alpha= 只收数；θ 稍后会被原地改，反向传播要它的副本
        return grad.addcmul(param.clone(), weight_decay)
    return grad.add(param, alpha=weight_decay)


def apply_weight_decay_foreach(
    params: Tensors, grads: Tensors, lr: Any, weight_decay: Any, decoupled: bool = False
) -> Tensors:
    """:func:`apply_weight_decay` 的 foreach 形式。"""
    if weight_decay == 0:
        return grads
    if decoupled:
        torch._foreach_mul_(params, 1 - lr * weight_decay)
        return grads
    return torch._foreach_add(grads, params, alpha=weight_decay)


# ---------------------------------------------------------------------- 指数移动平均
def ema_(avg: torch.Tensor, x: torch.Tensor, beta: Any) -> torch.Tensor:
    r""":math:`m \leftarrow \beta m + (1-\beta) x`（写成 lerp，一次读写）。"""
    return avg.lerp_(x, 1 - beta)


def ema_foreach_(avgs: Tensors, xs: Tensors, beta: Any) -> Tensors:
    """:func:`ema_` 的 foreach 形式。"""
    torch._foreach_lerp_(avgs, xs, 1 - beta)
    return avgs


def ema_sq_(avg: torch.Tensor, g: torch.Tensor, beta: Any) -> torch.Tensor:
    r""":math:`v \leftarrow \beta v + (1-\beta) g^2`。"""
    if isinstance(beta, torch.Tensor) and beta.requires_grad:  # value= 只收数：写成等价的 lerp，让梯度流到 β
        return avg.lerp_(torch.square(g), 1 - beta)
    return avg.mul_(beta).addcmul_(g, g, value=1 - beta)


def adam_moments_(
    state: dict, grad: torch.Tensor, beta1: Any, beta2: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Adam 一族的两个矩：:math:`m_t`（``exp_avg``）与 :math:`v_t`（``exp_avg_sq``），原地更新。"""
    return ema_(state["exp_avg"], grad, beta1), ema_sq_(state["exp_avg_sq"], grad, beta2)


def adam_moments_foreach_(
    states: list[dict], grads: Tensors, beta1: Any, beta2: Any
) -> tuple[Tensors, Tensors]:
    """:func:`adam_moments_` 的 foreach 形式。"""
    exp_avgs = ema_foreach_([s["exp_avg"] for s in states], grads, beta1)
    exp_avg_sqs = [s["exp_avg_sq"] for s in states]
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    return exp_avgs, exp_avg_sqs


# ---------------------------------------------------------------------- 逐元素最大值
def running_max_(
    buf: torch.Tensor, x: torch.Tensor, differentiable: bool, decay: Any = None
) -> torch.Tensor:
    r"""原地 :math:`b \leftarrow \max(b, x)`（给出 ``decay`` 时是 :math:`\max(\text{decay}\cdot b, x)`）。

    求导时 ``out=`` 不能用，先算出新值再拷回。
    """
    if differentiable:
        buf.copy_(torch.maximum(buf if decay is None else buf * decay, x))
    else:
        torch.maximum(buf if decay is None else buf.mul_(decay), x, out=buf)
    return buf


def running_max_foreach_(bufs: Tensors, xs: Tensors, decay: Any = None) -> Tensors:
    """:func:`running_max_` 的 foreach 形式。"""
    if decay is not None:
        torch._foreach_mul_(bufs, decay)
    torch._foreach_maximum_(bufs, xs)
    return bufs


# ---------------------------------------------------------------------- 分母与更新
def add_eps(x: torch.Tensor, eps: Any, differentiable: bool) -> torch.Tensor:
    r""":math:`x + \epsilon`：x 是新算出的临时张量，可以原地加；求导时它的值要留给反向传播，不能改。"""
    return x + eps if differentiable else x.add_(eps)


def sub_ratio_(
    param: torch.Tensor,
    num: torch.Tensor,
    denom: torch.Tensor,
    step_size: Any,
    group: dict[str, Any],
) -> None:
    r""":math:`\theta \leftarrow \theta - s \cdot n / d`。

    超参数是 Python 数时一次 ``addcdiv_``；保持张量时（capturable/differentiable）步长 s 是张量，
    只能先算出 :math:`n/d\cdot s` 再减。求导时 n 下一步还会被原地改，先复制一份留给反向传播。
    """
    if group["keep_tensors"]:
        if group["differentiable"]:
            num = num.clone()
        param.sub_(num / denom * step_size)
    else:
        param.addcdiv_(num, denom, value=-step_size if type(step_size) is float else -as_float(step_size))


def sub_ratio_foreach_(
    params: Tensors, nums: Tensors, denoms: Tensors, step_sizes: list, group: dict[str, Any]
) -> None:
    """:func:`sub_ratio_` 的 foreach 形式，每个张量一个步长。"""
    if group["keep_tensors"]:
        torch._foreach_sub_(params, torch._foreach_mul(torch._foreach_div(nums, denoms), step_sizes))
    else:
        scalars = [-(s.item() if type(s) is torch.Tensor else s) for s in step_sizes]
        torch._foreach_addcdiv_(params, nums, denoms, scalars)
