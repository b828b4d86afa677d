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
    """Adam/AdamW：两个 β 都在 [0, 1) 内，且要么都是 Python float，要么都是 1 元素张量（torch 的顺序与措辞）。"""
    check_beta_range(betas)
    if not all(isinstance(b, float) for b in betas[:2]) and not all(
        isinstance(b, torch.Tensor) for b in betas[:2]
    ):
        raise ValueError("betas must be either both floats or both Tensors")
    for i in (0, 1):
        if isinstance(betas[i], torch.Tensor) and betas[i].numel() != 1:
            raise ValueError(f"Tensor betas[{i}] must be 1-element")


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


def check_beta_range(betas: Any) -> None:
    """两个 β 都在 [0, 1) 内（与 torch 一样按下标取：只给一个 β 时是 IndexError）。"""
    for i in (0, 1):
        if not 0.0 <= _value(betas[i]) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


def reject_tensors_as_numbers(
    group: dict[str, Any], names: tuple[str, ...], *, check_shape: bool = True
) -> None:
    """torch 的非 capturable for-loop 把这些超参数传给只收数的参数（``alpha=``、``value=``）：
    张量只有 0 维（lr 已先压成 0 维）且不要求梯度时才算数，否则 TypeError。这里照样拒绝。"""
    if group.get("capturable"):
        return
    for name in names:
        value = group["betas"][int(name[-2])] if name.startswith("betas[") else group[name]
        if not isinstance(value, torch.Tensor):
            continue
        shaped = check_shape and name != "lr" and value.dim() != 0
        if shaped or (group.get("differentiable") and value.requires_grad):
            raise TypeError(
                f"{name} is used as a Number here (must be Number, not Tensor): "
                "a Tensor only counts as one when it is 0-dim and does not require grad"
            )
