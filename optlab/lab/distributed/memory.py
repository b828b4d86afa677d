"""每个进程（rank）上参数、梯度、优化器状态各占多少字节：实测，以及按公式外推到 N 个进程。

FSDP2 的参数、梯度和状态是 DTensor：``numel()`` 报告的是整个张量的大小，本进程实际存的是
``to_local()`` 那一片——这里一律数本地那一片。
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["STRATEGIES", "Memory", "local_bytes", "measure_memory", "predicted_memory"]

# 三种做法，按它们切分的东西逐步增多排列
STRATEGIES = ("DDP", "ZeRO-1", "FSDP2")


@dataclass(frozen=True)
class Memory:
    """一个进程上三类张量的字节数。"""

    params: int
    grads: int
    state: int

    @property
    def total(self) -> int:
        return self.params + self.grads + self.state


def local_bytes(tensor: torch.Tensor) -> int:
    """本进程为这个张量实际存了多少字节：DTensor 只数本地分片。"""
    if hasattr(tensor, "to_local"):
        tensor = tensor.to_local()
    return tensor.numel() * tensor.element_size()


def _tensors(value: Any) -> Iterable[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def measure_memory(model: torch.nn.Module, optimizer: Any) -> Memory:
    """实测：模型的参数与梯度，加上 ``optimizer.state`` 里的全部张量（都只数本进程那一份）。"""
    params = list(model.parameters())
    return Memory(
        params=sum(local_bytes(p) for p in params),
        grads=sum(local_bytes(p.grad) for p in params if p.grad is not None),
        state=sum(local_bytes(t) for t in _tensors(list(optimizer.state.values()))),
    )


def predicted_memory(strategy: str, n_params: int, world_size: int, *, state_buffers: int = 2,
                     bytes_per_element: int = 4) -> Memory:  # fmt: skip
    """按公式：P 个参数元素、每个元素 ``state_buffers`` 份状态（AdamW 是 2）、N 个进程。

    - DDP：每个进程都存全部参数、梯度和状态；
    - ZeRO-1：参数、梯度仍是全份，状态平均分成 N 份；
    - FSDP2：参数、梯度、状态都分成 N 份。

    忽略每个参数一个的 0 维 ``step`` 计数器，并假设能平均切分。
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy 应是 {STRATEGIES} 之一，收到 {strategy!r}")
    full = n_params * bytes_per_element
    state = full * state_buffers
    if strategy == "DDP":
        return Memory(full, full, state)
    if strategy == "ZeRO-1":
        return Memory(full, full, state // world_size)
    return Memory(full // world_size, full // world_size, state // world_size)
