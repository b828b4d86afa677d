"""Adam 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）。"""

from __future__ import annotations

import torch

from optlab.adam import Adam


def test_amsgrad_keeps_the_running_max_of_the_second_moment():
    p = torch.zeros(3, requires_grad=True)
    opt = Adam([p], lr=0.01, betas=(0.9, 0.5), amsgrad=True)
    seen = []
    for g in ([4.0, 1.0, 0.0], [0.1, 2.0, 0.0], [0.1, 0.1, 3.0]):
        p.grad = torch.tensor(g)
        opt.step()
        state = opt.state[p]
        seen.append(state["exp_avg_sq"].clone())
        torch.testing.assert_close(state["max_exp_avg_sq"], torch.stack(seen).amax(0))


def test_first_step_moves_each_coordinate_by_lr():
    """偏差修正之后 m̂₁ = g、v̂₁ = g²：第一步每个坐标移动 lr·g/(|g|+ε) ≈ lr·sign(g)。"""
    p = torch.zeros(3, requires_grad=True)
    opt = Adam([p], lr=0.1)
    p.grad = torch.tensor([5.0, -0.01, 1e-3])
    opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([-0.1, 0.1, -0.1]), rtol=0, atol=1e-5)
