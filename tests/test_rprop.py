"""Rprop 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）。"""

from __future__ import annotations

import pytest
import torch

from optlab.rprop import Rprop


def test_complex_step_size_starts_at_lr_for_both_parts():
    p = torch.randn(3, dtype=torch.complex64, requires_grad=True)
    opt = Rprop([p], lr=0.3)
    p.grad = torch.zeros_like(p)
    opt.step()
    torch.testing.assert_close(
        torch.view_as_real(opt.state[p]["step_size"]), torch.full((3, 2), 0.3)
    )


def test_step_size_grows_while_the_sign_holds_and_shrinks_when_it_flips():
    """同号：步长 ×η₊（封顶 step_sizes[1]）；变号：步长 ×η₋，且这一步不动、记下的梯度清零。"""
    p = torch.zeros(1, requires_grad=True)
    opt = Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(1e-3, 0.5))
    sizes, positions = [], []
    for g in (1.0, 1.0, 1.0, 1.0, -1.0):
        p.grad = torch.tensor([g])
        opt.step()
        sizes.append(opt.state[p]["step_size"].item())
        positions.append(p.item())
    assert sizes == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.25])
    assert positions[-1] == positions[-2]  # 变号的那一步不更新
    assert opt.state[p]["prev"].item() == 0.0
