"""各算法测试共用的小工具：选项网格、torch 的同名优化器、经磁盘往返的 state_dict。"""

from __future__ import annotations

import io
import itertools

import torch
import torch.optim


def grid(**axes):
    """选项的完整笛卡尔积。"""
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


def torch_twin(cls):
    """optlab 类对应的 torch.optim 类（按类名）。"""
    return getattr(torch.optim, cls.__name__)


def through_disk(state_dict):
    """torch.save 再 torch.load(weights_only=True)：与真实的检查点一样走一遍序列化。"""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)
