"""Adagrad 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）：
状态在构造时就建好、稀疏梯度只动出现过的行、share_memory。"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from optim_test_support import DTYPE_IDS, DTYPES

from optlab.adagrad import Adagrad
from optlab.testing import compare_with_torch


@pytest.mark.parametrize(
    "options,dtype",
    [
        pytest.param(options, dtype, id=f"{options}-{dtype_id}")
        for options in ({}, {"fused": True}, {"initial_accumulator_value": 0.5})
        for dtype, dtype_id in zip(DTYPES, DTYPE_IDS)
        if not (dtype.is_complex and options.get("fused"))  # fused 不接受复数参数
    ],
)
def test_state_created_at_construction(options, dtype):
    """torch 在构造时就建好 step 与 sum（复数参数的实部、虚部都从 τ 开始）。"""
    p = torch.randn(3, dtype=dtype, requires_grad=True)
    ours, theirs = Adagrad([p], **options), torch.optim.Adagrad([p], **options)
    s_ours, s_theirs = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert list(s_ours[0]) == list(s_theirs[0]) == ["step", "sum"]
    torch.testing.assert_close(s_ours, s_theirs)


def test_param_added_later_gets_state_on_first_step():
    compare_with_torch(Adagrad, {"lr": 0.1}, groups=[{}, {"lr_decay": 0.2}], steps=30).assert_ok()
    p, q = torch.randn(3, requires_grad=True), torch.randn(2, requires_grad=True)
    opt = Adagrad([p])
    opt.add_param_group({"params": [q]})
    assert q not in opt.state
    p.grad, q.grad = torch.ones(3), torch.full((2,), 2.0)
    opt.step()
    torch.testing.assert_close(opt.state[q]["sum"], torch.full((2,), 4.0))


def test_sparse_update_touches_only_seen_rows():
    table = torch.randn(5, 2, requires_grad=True)
    before = table.detach().clone()
    opt = Adagrad([table], lr=0.5)
    F.embedding(torch.tensor([1, 3]), table, sparse=True).sum().backward()
    assert table.grad.is_sparse
    opt.step()
    moved = (table.detach() != before).any(dim=1)
    assert moved.tolist() == [False, True, False, True, False]


def test_share_memory():
    p = torch.randn(3, requires_grad=True)
    opt = Adagrad([p])
    opt.share_memory()
    assert opt.state[p]["sum"].is_shared()
