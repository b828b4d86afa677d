"""Muon 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）：Newton–Schulz 正交化。"""

from __future__ import annotations

import torch
from optim_test_support import outcome

from optlab.muon import Muon, zeropower_via_newtonschulz


def test_newton_schulz_orthogonalises():
    """NS 的输出奇异值都在 1 附近（默认系数让它们在约 [0.7, 1.2] 里摆动），且为 bfloat16。"""
    gen = torch.Generator().manual_seed(1)
    for shape in [(8, 5), (5, 8)]:
        out = zeropower_via_newtonschulz(
            torch.randn(shape, generator=gen), (3.4445, -4.775, 2.0315), 5, 1e-7
        )
        assert out.dtype == torch.bfloat16 and out.shape == shape
        sv = torch.linalg.svdvals(out.float())
        assert sv.min() > 0.5 and sv.max() < 1.3


def test_every_group_is_checked_for_matrices():
    """第二个参数组里混进一维参数，同样在构造时被拒绝。"""

    def build(cls):
        return cls(
            [
                {"params": [torch.zeros(2, 2, requires_grad=True)]},
                {"params": [torch.zeros(2, requires_grad=True)]},
            ]
        )

    theirs = outcome(lambda: build(torch.optim.Muon), lambda _: None)
    assert theirs[:2] == ("init", ValueError)
    assert outcome(lambda: build(Muon), lambda _: None)[:2] == theirs[:2]
