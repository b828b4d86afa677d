"""Rprop 与 torch.optim.Rprop 逐步对照：选项网格、复数、capturable、state_dict、错误输入。"""

from __future__ import annotations

import pytest
import torch
from optim_check_helpers import (
    CUDA,
    DTYPE_IDS,
    DTYPES,
    STEPS,
    assert_capturable_math,
    assert_differentiable_gradcheck,
    assert_optim_db_error,
    assert_same_defaults,
    assert_same_differentiable_grads,
    assert_same_error,
    assert_same_signature,
    assert_same_state_layout,
    assert_state_dict_round_trips,
    ids,
    optim_db_error_cases,
    run_groups,
    triples,
)
from optim_test_support import grid

from optlab.rprop import Rprop
from optlab.testing import compare_with_torch

GRID = grid(
    etas=[(0.5, 1.2), (0.3, 1.5)],
    step_sizes=[(1e-6, 50), (1e-3, 0.05)],
    maximize=[False, True],
    foreach=[False, True],
)
RUNS = triples(GRID)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("combos", RUNS, ids=ids(RUNS))
def test_option_grid_matches_torch(combos, dtype):
    run_groups(Rprop, combos, dtype, lr=0.01)


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_hyperparameters(foreach):
    # torch 接受张量 lr 与张量 eta；step_sizes 不做检查（下界大于上界时一律取上界）
    for options in (
        {"lr": torch.tensor(0.02)},
        {"etas": (torch.tensor(0.4), 1.3)},
        {"step_sizes": (0.05, 0.01)},
    ):
        compare_with_torch(Rprop, dict(options, foreach=foreach), steps=STEPS).assert_ok()


def test_signature_and_defaults():
    assert_same_signature(Rprop)
    assert_same_defaults(Rprop)
    assert_same_defaults(Rprop, lr=0.1, etas=(0.4, 1.1), step_sizes=(1e-3, 1.0), capturable=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64], ids=DTYPE_IDS)
def test_state_layout(dtype):
    assert_same_state_layout(Rprop, {"lr": 0.3}, dtype=dtype)


def test_complex_step_size_starts_at_lr_for_both_parts():
    p = torch.randn(3, dtype=torch.complex64, requires_grad=True)
    opt = Rprop([p], lr=0.3)
    p.grad = torch.zeros_like(p)
    opt.step()
    torch.testing.assert_close(
        torch.view_as_real(opt.state[p]["step_size"]), torch.full((3, 2), 0.3)
    )


@pytest.mark.parametrize("options", [{}, {"foreach": True, "etas": (0.3, 1.5)}], ids=str)
def test_state_dict_round_trip(options):
    assert_state_dict_round_trips(Rprop, options)


def test_state_dict_round_trip_complex():
    assert_state_dict_round_trips(Rprop, {"foreach": True}, dtype=torch.complex64)


BAD_OPTIONS = [
    {"lr": -1.0},
    {"lr": torch.tensor([0.1, 0.2])},
    {"etas": (1.0, 0.5)},
    {"etas": (0.0, 1.2)},
    {"etas": (0.5, 1.0)},
    {"etas": (-0.5, 1.2)},
    {"capturable": True},
    {"capturable": True, "foreach": True},
    {"foreach": True, "differentiable": True},
    {"weight_decay": 0.1},
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=str)
def test_bad_options_raise_like_torch(options):
    assert_same_error(Rprop, options)


def test_sparse_gradient_rejected_like_torch():
    sparse = torch.sparse_coo_tensor([[0, 2]], torch.randn(2, 2), (4, 2))
    assert_same_error(Rprop, {}, grad=sparse, shape=(4, 2))


@pytest.mark.parametrize(
    "case", optim_db_error_cases(Rprop), ids=lambda c: c.optimizer_error_input.desc
)
def test_optim_db_error_inputs(case):
    assert_optim_db_error(Rprop, case)


@pytest.mark.parametrize("options", [{}, {"etas": (0.3, 1.5), "step_sizes": (1e-3, 0.05)}], ids=str)
def test_differentiable_step_matches_torch(options):
    """torch 2.13 连走两步后反向传播会报“被原地修改”（step_size 被下一步覆盖），
    所以只和 torch 比一步；多步用有限差分检验我们的导数。"""
    assert_same_differentiable_grads(Rprop, options, steps=1)
    assert_differentiable_gradcheck(Rprop, options, steps=3)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("tensor_lr", [False, True])
def test_capturable_math_path(foreach, tensor_lr):
    assert_capturable_math(Rprop, {"foreach": foreach}, tensor_lr=tensor_lr)


@CUDA
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("lr", [0.01, torch.tensor(0.01)], ids=["float_lr", "tensor_lr"])
def test_cuda_capturable_matches_torch(foreach, lr):
    options = {"lr": lr, "capturable": True, "foreach": foreach}
    compare_with_torch(Rprop, options, steps=STEPS, device="cuda").assert_ok()
