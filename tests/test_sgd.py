"""SGD 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）。"""

from __future__ import annotations

import torch

from optlab.sgd import SGD


def test_first_momentum_buffer_is_the_raw_gradient_without_dampening():
    """torch 的老规矩：第一步 b₁ = g₁（不乘 1-τ），之后 b_t = μ·b_{t-1} + (1-τ)·g_t。"""
    p = torch.zeros(2, requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    p.grad = torch.tensor([1.0, -2.0])
    opt.step()
    torch.testing.assert_close(opt.state[p]["momentum_buffer"], torch.tensor([1.0, -2.0]))
    torch.testing.assert_close(p.detach(), torch.tensor([-0.1, 0.2]))
    p.grad = torch.tensor([3.0, 0.0])
    opt.step()
    buf = 0.9 * torch.tensor([1.0, -2.0]) + 0.5 * torch.tensor([3.0, 0.0])
    torch.testing.assert_close(opt.state[p]["momentum_buffer"], buf)


def test_nesterov_steps_along_gradient_plus_momentum_times_buffer():
    p = torch.zeros(1, requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    for g in (1.0, 2.0):
        before = p.item()
        p.grad = torch.tensor([g])
        opt.step()
        buf = opt.state[p]["momentum_buffer"].item()
        assert abs((before - p.item()) - 0.1 * (g + 0.9 * buf)) < 1e-7
