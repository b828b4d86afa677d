"""SparseAdam 与 torch.optim.SparseAdam 逐步对照：稀疏梯度来自 embedding(sparse=True)。"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from optim_test_support import grid
from special_optim_checks import (
    Setup,
    assert_optim_db_error_like_torch,
    assert_same_error,
    assert_same_signature_and_defaults,
    assert_same_state_layout,
    assert_state_dict_round_trips,
    compare,
    label,
    optim_db_error_cases,
)

from optlab.sparse_adam import SparseAdam


def setup(dtype=torch.float32):
    def params():
        gen = torch.Generator().manual_seed(0)
        return [
            torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in ((10, 3), (6, 2))
        ]

    def loss(ps, k):
        gen = torch.Generator().manual_seed(k)
        total = 0.0
        for p in ps:
            rows = torch.randint(0, p.shape[0], (5,), generator=gen)  # 常有重复行：要先合并
            e = F.embedding(rows, p, sparse=True)
            total = total + ((e - 0.3) ** 2).sum() + 0.1 * torch.sin(3 * e).sum()
        return total

    return Setup(params, loss)


OPTIONS = grid(maximize=[False, True], betas=[(0.9, 0.999), (0.5, 0.9)], eps=[1e-8, 1e-3])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("options", OPTIONS, ids=label)
def test_option_grid_matches_torch(options, dtype):
    compare(SparseAdam, setup(dtype), dict(options, lr=0.05), dtype=dtype, skip_grad_steps=(3, 4))


def test_tensor_lr_and_two_param_groups():
    compare(SparseAdam, setup(), {"lr": torch.tensor(0.05)}, steps=20)
    groups = [{"lr": 0.1, "betas": (0.5, 0.9)}, {"maximize": True}]
    compare(SparseAdam, setup(), {"lr": 0.02}, groups=groups, skip_grad_steps=(2,))


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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_state_dict_moves_both_ways(dtype):
    assert_state_dict_round_trips(SparseAdam, setup(dtype), {"lr": 0.05})


def test_signature_defaults_and_state_layout():
    assert_same_signature_and_defaults(SparseAdam, setup().params)
    assert_same_state_layout(SparseAdam, setup(), {})  # step 是 Python int


def _dense_grad_step(c):
    p = torch.randn(3, 2, requires_grad=True)
    opt = c([p])
    p.grad = torch.ones_like(p)
    opt.step()


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c([torch.zeros(3, requires_grad=True)], lr=0.0),
        lambda c: c([torch.zeros(3, requires_grad=True)], lr=torch.tensor([0.1, 0.2])),
        lambda c: c([torch.zeros(3, requires_grad=True)], eps=0.0),
        lambda c: c([torch.zeros(3, requires_grad=True)], betas=(1.0, 0.9)),
        lambda c: c([torch.zeros(3, requires_grad=True)], betas=(0.9, -0.1)),
        lambda c: c([torch.zeros(3, 3).to_sparse().requires_grad_()]),
        lambda c: c([torch.zeros(3, dtype=torch.complex64, requires_grad=True)]),
        _dense_grad_step,
    ],
)
def test_bad_inputs_raise_like_torch(build):
    assert_same_error(SparseAdam, build)


def test_dense_gradient_leaves_no_state():
    for cls in (SparseAdam, torch.optim.SparseAdam):
        p = torch.randn(3, 2, requires_grad=True)
        opt = cls([p])
        p.grad = torch.ones_like(p)
        with pytest.raises(RuntimeError):
            opt.step()
        assert len(opt.state) == 0


@pytest.mark.parametrize("index", range(len(optim_db_error_cases(SparseAdam))))
def test_optim_db_error_inputs(index):
    assert_optim_db_error_like_torch(SparseAdam, index)
