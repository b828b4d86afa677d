"""Adadelta 与 torch.optim.Adadelta 逐步对照：选项网格、capturable、state_dict、错误输入。"""

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

from optlab.adadelta import Adadelta
from optlab.testing import compare_with_torch

GRID = grid(
    weight_decay=[0, 0.1],
    rho=[0.9, 0.5],
    maximize=[False, True],
    foreach=[False, True],
)
RUNS = triples(GRID)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("combos", RUNS, ids=ids(RUNS))
def test_option_grid_matches_torch(combos, dtype):
    run_groups(Adadelta, combos, dtype, lr=1.0)


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_and_edge_rho(foreach):
    # rho=0 与 rho=1 都在 torch 允许的闭区间内
    for options in ({"lr": torch.tensor(0.5)}, {"rho": 0.0}, {"rho": 1.0, "eps": 1e-3}):
        compare_with_torch(Adadelta, dict(options, foreach=foreach), steps=STEPS).assert_ok()


def test_signature_and_defaults():
    assert_same_signature(Adadelta)
    assert_same_defaults(Adadelta)
    assert_same_defaults(Adadelta, lr=0.5, rho=0.8, capturable=True, foreach=True)


def test_state_layout():
    assert_same_state_layout(Adadelta, {})
    assert_same_state_layout(Adadelta, {"foreach": True}, dtype=torch.float64)


@pytest.mark.parametrize("options", [{"weight_decay": 0.1}, {"foreach": True, "rho": 0.8}], ids=str)
def test_state_dict_round_trip(options):
    assert_state_dict_round_trips(Adadelta, options)


BAD_OPTIONS = [
    {"lr": -1.0},
    {"lr": torch.tensor([0.1, 0.2])},
    {"rho": -0.1},
    {"rho": 1.1},
    {"eps": -1.0},
    {"weight_decay": -1.0},
    {"capturable": True},
    {"capturable": True, "foreach": True},
    {"foreach": True, "differentiable": True},
    {"fused": True},
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=str)
def test_bad_options_raise_like_torch(options):
    assert_same_error(Adadelta, options)


def test_sparse_gradient_rejected_like_torch():
    sparse = torch.sparse_coo_tensor([[0, 2]], torch.randn(2, 2), (4, 2))
    assert_same_error(Adadelta, {}, grad=sparse, shape=(4, 2))


@pytest.mark.parametrize(
    "case", optim_db_error_cases(Adadelta), ids=lambda c: c.optimizer_error_input.desc
)
def test_optim_db_error_inputs(case):
    assert_optim_db_error(Adadelta, case)


@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.1, "rho": 0.5}], ids=str)
def test_differentiable_step_matches_torch(options):
    assert_same_differentiable_grads(Adadelta, options)
    assert_differentiable_gradcheck(Adadelta, options)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("tensor_lr", [False, True])
def test_capturable_math_path(foreach, tensor_lr):
    assert_capturable_math(Adadelta, {"foreach": foreach, "weight_decay": 0.1}, tensor_lr=tensor_lr)


@CUDA
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("lr", [1.0, torch.tensor(0.5)], ids=["float_lr", "tensor_lr"])
def test_cuda_capturable_matches_torch(foreach, lr):
    options = {"lr": lr, "capturable": True, "foreach": foreach, "weight_decay": 0.1}
    compare_with_torch(Adadelta, options, steps=STEPS, device="cuda").assert_ok()
