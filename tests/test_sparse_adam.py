"""SparseAdam 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）：
只动梯度里出现的行、二维稀疏下标、拒绝稀疏参数。"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from optim_test_support import outcome

from optlab.sparse_adam import SparseAdam


def test_only_rows_in_the_gradient_move():
    p = torch.randn(6, 2, requires_grad=True)
    before = p.detach().clone()
    opt = SparseAdam([p], lr=0.1)
    F.embedding(torch.tensor([1, 4, 4]), p, sparse=True).sum().backward()
    opt.step()
    moved = (p.detach() != before).any(dim=1)
    assert moved.tolist() == [False, True, False, False, True, False]


def test_full_sparse_layout_matches_torch():
    """稀疏维数为 2（不是整行）的梯度也一样处理。"""
    results = []
    for cls in (SparseAdam, torch.optim.SparseAdam):
        p = torch.linspace(-1, 1, 12).view(4, 3).requires_grad_()
        opt = cls([p], lr=0.1)
        for k in range(5):
            index = torch.tensor([[0, 1, 1, 3, k % 4], [2, 0, 0, 1, k % 3]])
            p.grad = torch.sparse_coo_tensor(
                index, torch.arange(1.0, 6.0), (4, 3), check_invariants=True
            )
            opt.step()
        results.append((p.detach(), opt.state_dict()["state"]))
    torch.testing.assert_close(results[0], results[1])


def test_sparse_params_rejected_like_torch():
    def build(cls):
        return cls([torch.zeros(3, 3).to_sparse().requires_grad_()])

    theirs = outcome(lambda: build(torch.optim.SparseAdam), lambda _: None)
    assert theirs[:2] == ("init", ValueError)
    assert outcome(lambda: build(SparseAdam), lambda _: None)[:2] == theirs[:2]
