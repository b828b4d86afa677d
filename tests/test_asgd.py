"""ASGD 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）：t0 之后 ax 是平均值。"""

from __future__ import annotations

import torch

from optlab.asgd import ASGD


def test_ax_is_running_average_after_t0():
    """t0=0 且 lambd=0 时 eta 恒为 lr；第 t 步用的 mu = 1/max(1, t-1)，所以 ax 是 θ_2…θ_t 的算术平均。"""
    p = torch.tensor([1.0], requires_grad=True)
    opt = ASGD([p], lr=0.1, lambd=0.0, t0=0)
    seen = []
    for _ in range(6):
        p.grad = torch.ones_like(p)
        opt.step()
        seen.append(p.detach().clone())
    torch.testing.assert_close(opt.state[p]["ax"], torch.stack(seen[1:]).mean(0))
