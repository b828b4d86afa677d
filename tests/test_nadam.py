"""NAdam 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）。"""

from __future__ import annotations

import torch

from optlab.nadam import NAdam


def test_mu_product_is_the_product_of_the_momentum_schedule():
    """μ_t = β₁(1 - ½·0.96^{tψ})；状态 mu_product 保存 ∏_{i≤t} μ_i（偏差修正要用它）。"""
    beta1, psi = 0.9, 0.05
    p = torch.zeros(2, requires_grad=True)
    opt = NAdam([p], betas=(beta1, 0.999), momentum_decay=psi)
    product = 1.0
    for t in range(1, 6):
        p.grad = torch.ones(2)
        opt.step()
        product *= beta1 * (1 - 0.5 * 0.96 ** (t * psi))
        torch.testing.assert_close(opt.state[p]["mu_product"].item(), product)
