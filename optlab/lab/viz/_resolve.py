"""把优化器名字变成类：优先用 optlab 的实现，尚未实现的名字退回 torch.optim（仅绘图层这样做）。"""

from __future__ import annotations


def resolve_class(name: str):
    import optlab

    cls = getattr(optlab, name, None)
    if isinstance(cls, type):
        return cls
    import torch.optim

    return getattr(torch.optim, name)
