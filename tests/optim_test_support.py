"""各算法测试共用的设置与小工具：STEPS/DTYPES/CUDA、选项网格、torch 的同名优化器、经磁盘往返的 state_dict。

单线程 fixture 在 conftest.py 里，对所有测试生效。
"""

from __future__ import annotations

import io
import itertools

import pytest
import torch
import torch.optim

#: 优化器测试共用的设置：默认步数、dtype 网格与 id、没有 CUDA 时跳过的标记
STEPS = 30
DTYPES = [torch.float32, torch.float64, torch.complex64]
DTYPE_IDS = ["fp32", "fp64", "c64"]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="需要 CUDA 设备")


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
