"""优化器状态占多少内存：从 ``state_dict()`` 里的张量实测，并与按算法写出的公式对照。

“性能”一章用它列出每个算法每个参数元素要多存几个字节。
只依赖 torch；类由调用者传入（optlab 的或 torch.optim 的都行）。
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["StateSize", "expected_state_numel", "measure_state", "state_size"]


@dataclass(frozen=True)
class StateSize:
    """``buffer_bytes``：与参数同形（或按参数形状分解）的缓冲区；``scalar_bytes``：0 维张量（如 step）。"""

    param_numel: int
    param_bytes: int
    buffer_bytes: int
    buffer_numel: int
    scalar_bytes: int

    @property
    def bytes_per_param(self) -> float:
        """每个参数元素对应的缓冲区字节数（不含 0 维标量）。"""
        return self.buffer_bytes / self.param_numel

    @property
    def buffers_per_param(self) -> float:
        """每个参数元素对应几个缓冲区元素：Adam 是 2，SGD 动量是 1。"""
        return self.buffer_numel / self.param_numel


def _tensors(value: Any):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def state_size(optimizer, params: Sequence[torch.Tensor] | None = None) -> StateSize:
    """统计 ``optimizer.state_dict()["state"]`` 里全部张量的字节数（列表里的张量也算，如 LBFGS 的历史）。"""
    if params is None:
        params = [p for g in optimizer.param_groups for p in g["params"]]
    buffer_bytes = buffer_numel = scalar_bytes = 0
    for tensor in _tensors(optimizer.state_dict()["state"]):
        size = tensor.numel() * tensor.element_size()
        if tensor.ndim == 0:
            scalar_bytes += size
        else:
            buffer_bytes += size
            buffer_numel += tensor.numel()
    return StateSize(
        param_numel=sum(p.numel() for p in params),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        buffer_bytes=buffer_bytes,
        buffer_numel=buffer_numel,
        scalar_bytes=scalar_bytes,
    )


def _adafactor_numel(shape: Sequence[int]) -> int:
    # 二维及以上：只存最后两维的行均值与列均值（前面的维度照常保留）
    if len(shape) < 2:
        return math.prod(shape)
    lead = math.prod(shape[:-2])
    return lead * shape[-2] + lead * shape[-1]


# 每个算法：选项 → 每个参数元素要存几份同形缓冲区
_BUFFERS: dict[str, Callable[[dict], int]] = {
    "SGD": lambda o: 1 if o.get("momentum", 0) else 0,
    "Adam": lambda o: 3 if o.get("amsgrad") else 2,
    "AdamW": lambda o: 3 if o.get("amsgrad") else 2,
    "Adagrad": lambda o: 1,
    "Adadelta": lambda o: 2,
    "RMSprop": lambda o: 1 + bool(o.get("momentum", 0)) + bool(o.get("centered")),
    "Adamax": lambda o: 2,
    "NAdam": lambda o: 2,
    "RAdam": lambda o: 2,
    "ASGD": lambda o: 1,
    "Rprop": lambda o: 2,
    "SparseAdam": lambda o: 2,
    "Muon": lambda o: 1,
}


def expected_state_numel(name: str, options: dict, shape: Sequence[int]) -> int | None:
    """按公式算一个参数的缓冲区元素数；LBFGS 的历史长度随迭代变化，返回 ``None``。"""
    if name == "Adafactor":
        return _adafactor_numel(tuple(shape))
    if name not in _BUFFERS:
        return None
    return _BUFFERS[name](options) * math.prod(shape)


def measure_state(cls, options: dict, shapes: Sequence[Sequence[int]], *, steps: int = 1,
                  dtype: torch.dtype = torch.float32, seed: int = 0) -> StateSize:  # fmt: skip
    """建一组给定形状的参数，随机梯度走 ``steps`` 步，返回实测的状态大小。"""
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(*s, generator=gen, dtype=dtype).requires_grad_(True) for s in shapes]
    opt = cls(params, **options)

    def closure():
        # 固定的非二次损失 Σ θ²/2 + 0.1·sin 3θ（梯度用解析式）：LBFGS 不会一步就收敛、历史能积累起来
        for p in params:
            p.grad = p.detach() + 0.3 * torch.cos(3 * p.detach())
        return sum(float((p.detach() ** 2 / 2 + 0.1 * torch.sin(3 * p.detach())).sum()) for p in params)

    for _ in range(steps):
        opt.step(closure)
    return state_size(opt, params)
