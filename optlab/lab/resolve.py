"""教学实验里唯一的“名字 → 优化器类”解析：轨迹、数字分类实验和绘图层都用它。"""

from __future__ import annotations

import importlib
from typing import Any


def resolve_optimizer(optimizer: Any, *, fallback_to_torch: bool = False) -> Any:
    """类（或任何可调用的工厂）原样返回；名字字符串在 ``optlab`` 里按名字查找。

    ``fallback_to_torch=True`` 时，optlab 里没有的名字再到 ``torch.optim`` 里找（只有绘图层这样用）。
    """
    if isinstance(optimizer, str):
        for module in ("optlab", "torch.optim") if fallback_to_torch else ("optlab",):
            cls = getattr(importlib.import_module(module), optimizer, None)
            if isinstance(cls, type):
                return cls
        raise ValueError(f"optlab 中没有名为 {optimizer!r} 的优化器")
    if callable(optimizer):
        return optimizer
    raise TypeError(f"优化器必须是类或名字字符串，收到 {type(optimizer).__name__}")
