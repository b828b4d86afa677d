"""超参数校验：错误类型与 torch.optim 相同（ValueError / RuntimeError）。"""

from __future__ import annotations

from typing import Any

import torch


def _value(x: Any) -> Any:
    return x.item() if isinstance(x, torch.Tensor) and x.numel() == 1 else x


def check_lr(lr: Any) -> None:
    if isinstance(lr, torch.Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= _value(lr):
        raise ValueError(f"Invalid learning rate: {lr}")


def check_non_negative(name: str, value: Any) -> None:
    """例如 ``check_non_negative("weight_decay", wd)`` → "Invalid weight_decay value: -1"。"""
    if not 0.0 <= _value(value):
        raise ValueError(f"Invalid {name} value: {value}")


def check_eps(eps: Any) -> None:
    if not 0.0 <= _value(eps):
        raise ValueError(f"Invalid epsilon value: {eps}")


def check_betas(betas: Any) -> None:
    """两个 β 都必须在 [0, 1) 内；张量 β 要么都是张量，要么都不是。"""
    if isinstance(betas[0], torch.Tensor) != isinstance(betas[1], torch.Tensor):
        raise ValueError("betas must be either both floats or both Tensors")
    for i, beta in enumerate(betas):
        if isinstance(beta, torch.Tensor) and beta.numel() != 1:
            raise ValueError(f"Tensor betas[{i}] must be 1-element")
        if not 0.0 <= _value(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def check_tensor_hyperparams_foreach(lr: Any, betas: Any, foreach: Any, capturable: bool) -> None:
    """非 capturable 的 foreach 路径不接受张量学习率 / 张量 β。"""
    if foreach and not capturable:
        if isinstance(lr, torch.Tensor):
            raise ValueError(
                "lr as a Tensor is not supported for capturable=False and foreach=True"
            )
        if betas is not None and isinstance(betas[0], torch.Tensor):
            raise ValueError(
                "betas[0] as a Tensor is not supported for capturable=False and foreach=True"
            )


def check_fused_flags(fused: Any, foreach: Any, differentiable: bool) -> None:
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


FUSED_DEVICES = ("mps", "cuda", "xpu", "hpu", "cpu")


def check_fused_params(params: list[torch.Tensor]) -> None:
    """fused=True 要求参数是受支持设备上的浮点张量。"""
    for p in params:
        if not (p.device.type in FUSED_DEVICES and torch.is_floating_point(p)):
            raise RuntimeError(
                "`fused=True` requires all the params to be floating point Tensors of "
                f"supported devices: {list(FUSED_DEVICES)}."
            )


def as_float(x: Any) -> Any:
    """张量超参数在非 capturable 路径里取出 Python 数。"""
    return x.item() if isinstance(x, torch.Tensor) else x


def check_beta_range(betas: Any) -> None:
    """只检查两个 β 是否在 [0, 1) 内（Adamax/NAdam/RAdam 允许浮点与张量混用）。"""
    for i, beta in enumerate(betas):
        if not 0.0 <= _value(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def check_foreach_not_differentiable(group: dict[str, Any]) -> None:
    """foreach 算子不支持自动求导：与 torch 一样在 step 时用断言报错。"""
    if group.get("differentiable"):
        raise AssertionError("_foreach ops don't support autograd")


def adam_family_hyperparams(group: dict[str, Any], *, betas_as_float: bool = True) -> tuple:
    """取出 Adam 一族的超参数：``(keep_tensors, lr, beta1, beta2, eps, weight_decay)``。

    capturable/differentiable 时保留张量（step 也是张量）；否则取 Python 数，省去张量运算。
    ``betas_as_float=False`` 时 β 原样保留（NAdam 需要让 μ_t 按 β 的 dtype 舍入，与 torch 一致）。
    """
    keep_tensors = bool(group["capturable"] or group["differentiable"])
    lr, (beta1, beta2) = group["lr"], group["betas"]
    eps, weight_decay = group["eps"], group["weight_decay"]
    if isinstance(lr, torch.Tensor):  # 1 元素的张量 lr 可能是 [1] 形状，统一成 0 维
        lr = lr.reshape(())
    if not keep_tensors:
        lr, eps, weight_decay = as_float(lr), as_float(eps), as_float(weight_decay)
        if betas_as_float:
            beta1, beta2 = as_float(beta1), as_float(beta2)
    return keep_tensors, lr, beta1, beta2, eps, weight_decay
