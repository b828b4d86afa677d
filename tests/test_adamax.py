"""Adamax 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）。"""

from __future__ import annotations

import torch

from optlab.adamax import Adamax


def test_first_step_is_lr_times_sign_and_u_is_a_running_max():
    """第一步 m̂ = g、u = |g|+ε，所以每个坐标移动 ≈ lr·sign(g)；之后 u = max(β₂u, |g|+ε) 只在 |g| 变大时跟着变。"""
    p = torch.zeros(3, requires_grad=True)
    opt = Adamax([p], lr=0.1, betas=(0.9, 0.5), eps=1e-8)
    p.grad = torch.tensor([3.0, -0.2, 1e-3])
    opt.step()
    torch.testing.assert_close(p.detach(), -0.1 * torch.tensor([1.0, -1.0, 1.0]), rtol=0, atol=1e-5)
    p.grad = torch.tensor([1.0, -5.0, 0.0])
    opt.step()
    u = torch.maximum(0.5 * torch.tensor([3.0, 0.2, 1e-3]), torch.tensor([1.0, 5.0, 0.0]) + 1e-8)
    torch.testing.assert_close(opt.state[p]["exp_inf"], u)
