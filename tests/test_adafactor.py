"""Adafactor 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）：
分解的二阶矩（行、列两个向量）、同一组里混合 dtype。"""

from __future__ import annotations

import pytest
import torch
from optim_registry import SPECS
from optim_test_support import Problem, compare

from optlab.adafactor import Adafactor
from optlab.testing import default_loss


def test_factored_state_keeps_row_and_column_vectors():
    """二维以上的参数只存行向量与列向量（形状 (..., m, 1) 与 (..., 1, n)），一维、零维存完整的 v。"""
    shapes = [(5, 4), (2, 3, 2), (7,), ()]
    params = [torch.randn(s, requires_grad=True) for s in shapes]
    opt = Adafactor(params)
    for p in params:
        p.grad = torch.randn_like(p)
    opt.step()
    layout = [{k: tuple(v.shape) for k, v in opt.state[p].items() if k != "step"} for p in params]
    assert layout == [
        {"row_var": (5, 1), "col_var": (1, 4)},
        {"row_var": (2, 3, 1), "col_var": (2, 1, 2)},
        {"variance": (7,)},
        {"variance": ()},
    ]


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
def test_mixed_dtypes_in_one_group(foreach):
    """一个组里混合 fp64 与 fp32：ε₁=None 时整组用第一个参数 dtype 的机器精度（与 torch 的 for-loop 相同）。"""

    def params():
        gen = torch.Generator().manual_seed(0)
        return [
            torch.randn(3, 2, generator=gen, dtype=dt).requires_grad_()
            for dt in (torch.float32, torch.float64)
        ]

    prob = Problem(params, lambda ps, k: default_loss(ps))
    if foreach:  # torch 的 foreach 按 (设备, dtype) 分桶的顺序不固定：只比较 ε₁ 给定时
        compare(SPECS["Adafactor"], {"eps": (1e-30, 1e-3), "foreach": True}, prob=prob, steps=10)
    else:
        compare(SPECS["Adafactor"], {}, prob=prob, steps=10)
