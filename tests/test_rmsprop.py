"""RMSprop 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）。"""

from __future__ import annotations

import torch
from optim_test_support import assert_differentiable_gradcheck, differentiable_grads

from optlab.rmsprop import RMSprop


def test_differentiable_centered():
    """centered：torch 2.13 连走多步后反向传播会报“被原地修改”（grad_avg 被下一步覆盖），
    所以只和 torch 比一步；多步用有限差分检验我们的导数。"""
    options = {"weight_decay": 0.1, "momentum": 0.5, "centered": True}
    ours = differentiable_grads(RMSprop, options, 1, lr_tensor=False)
    torch.testing.assert_close(ours, differentiable_grads(torch.optim.RMSprop, options, 1, False))
    assert_differentiable_gradcheck(RMSprop, options, steps=3)


def test_centered_divides_by_the_variance_estimate():
    """第一步 v = (1-α)g²；不 centered 时分母是 √v + ε，centered 时是 √(v - ḡ²) + ε，ḡ = (1-α)g。"""
    alpha, lr, g = 0.9, 0.01, 2.0
    v, g_avg = (1 - alpha) * g**2, (1 - alpha) * g
    for centered, denom in ((False, v**0.5), (True, (v - g_avg**2) ** 0.5)):
        p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        opt = RMSprop([p], lr=lr, alpha=alpha, eps=1e-8, centered=centered)
        p.grad = torch.full_like(p, g)
        opt.step()
        torch.testing.assert_close(p.item(), -lr * g / (denom + 1e-8))
