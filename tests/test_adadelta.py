"""Adadelta 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）。"""

from __future__ import annotations

import torch

from optlab.adadelta import Adadelta


def test_first_step_follows_the_box():
    """第一步：v = (1-ρ)g²，Δ = √(0+ε)/√(v+ε)·g，θ ← θ - lr·Δ，u = (1-ρ)Δ²（两个累积量都从 0 开始）。"""
    rho, eps, lr = 0.9, 1e-6, 1.0
    g = torch.tensor([0.5, -2.0, 1e-4])
    p = torch.zeros(3, requires_grad=True)
    opt = Adadelta([p], lr=lr, rho=rho, eps=eps)
    p.grad = g.clone()
    opt.step()
    v = (1 - rho) * g**2
    delta = (eps**0.5) / (v + eps).sqrt() * g
    torch.testing.assert_close(p.detach(), -lr * delta)
    torch.testing.assert_close(opt.state[p]["square_avg"], v)
    torch.testing.assert_close(opt.state[p]["acc_delta"], (1 - rho) * delta**2)
