"""各算法测试共用的设置与小工具：STEPS/DTYPES/CUDA、选项网格、torch 的同名优化器、经磁盘往返的 state_dict。

单线程 fixture 在 conftest.py 里，对所有测试生效。
"""

from __future__ import annotations

import inspect
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


def assert_same_signature_and_defaults(cls, params=None, **options):
    """参数名、种类（位置/仅关键字）、默认值与 torch 相同；用 ``options`` 构造后，defaults 与
    param_groups（连同键的顺序）也相同。``params()`` 给出参数（默认一个 2 元素张量）。"""
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(torch_twin(cls).__init__).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]
    make = params or (lambda: [torch.zeros(2, requires_grad=True)])
    a, b = cls(make(), **options), torch_twin(cls)(make(), **options)
    assert list(a.defaults.items()) == list(b.defaults.items())
    assert a.state_dict()["param_groups"] == b.state_dict()["param_groups"]
