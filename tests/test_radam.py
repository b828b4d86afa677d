"""RAdam 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）：整流开关。"""

from __future__ import annotations

import pytest
import torch

from optlab.radam import RAdam


def test_rectification_switches_on_mid_run():
    """β₂=0.999 时前 5 步是动量 SGD（更新不含 √v），第 6 步起才用自适应学习率。"""
    p = torch.zeros(1, requires_grad=True)
    opt = RAdam([p], lr=1.0, betas=(0.0, 0.999))
    moves = []
    for _ in range(7):
        before = p.detach().clone()
        p.grad = torch.full_like(p, 100.0)
        opt.step()
        moves.append((before - p.detach()).item())
    assert moves[:5] == pytest.approx([100.0] * 5)  # 未整流：步长 = lr·m̂ = 100
    assert 0 < moves[5] < 1 and 0 < moves[6] < 1  # 整流后：≈ lr·r_t，远小于 100
