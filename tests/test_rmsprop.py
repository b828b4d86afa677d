"""RMSprop 与 torch.optim.RMSprop 逐步对照：选项网格、capturable、state_dict、错误输入。"""

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

from optlab.rmsprop import RMSprop
from optlab.testing import compare_with_torch

GRID = grid(
    weight_decay=[0, 0.1],
    momentum=[0, 0.5],
    centered=[False, True],
    maximize=[False, True],
    foreach=[False, True],
)
RUNS = triples(GRID)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("combos", RUNS, ids=ids(RUNS))
def test_option_grid_matches_torch(combos, dtype):
    run_groups(RMSprop, [dict(c, alpha=0.9) for c in combos], dtype, lr=0.01)


@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_and_momentum_one(foreach):
    # torch 对 momentum 不设上界，momentum=1 也接受，这里一并对照
    for options in ({"lr": torch.tensor(0.01), "momentum": 0.3}, {"lr": 0.001, "momentum": 1.0}):
        compare_with_torch(RMSprop, dict(options, foreach=foreach), steps=STEPS).assert_ok()


def test_signature_and_defaults():
    assert_same_signature(RMSprop)
    assert_same_defaults(RMSprop)
    assert_same_defaults(RMSprop, momentum=0.9, centered=True, capturable=True)


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9, "centered": True}], ids=str)
def test_state_layout(options):
    assert_same_state_layout(RMSprop, options)
    assert_same_state_layout(RMSprop, options, dtype=torch.float64)


@pytest.mark.parametrize(
    "options",
    [{"momentum": 0.9, "centered": True}, {"foreach": True, "weight_decay": 0.1}],
    ids=str,
)
def test_state_dict_round_trip(options):
    assert_state_dict_round_trips(RMSprop, options)


BAD_OPTIONS = [
    {"lr": -1.0},
    {"lr": torch.tensor([0.1, 0.2])},
    {"eps": -1.0},
    {"momentum": -0.1},
    {"weight_decay": -1.0},
    {"alpha": -0.5},
    {"capturable": True},
    {"capturable": True, "foreach": True},
    {"foreach": True, "differentiable": True},
    {"fused": True},
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=str)
def test_bad_options_raise_like_torch(options):
    assert_same_error(RMSprop, options)


def test_sparse_gradient_rejected_like_torch():
    sparse = torch.sparse_coo_tensor([[0, 2]], torch.randn(2, 2), (4, 2))
    assert_same_error(RMSprop, {}, grad=sparse, shape=(4, 2))


@pytest.mark.parametrize(
    "case", optim_db_error_cases(RMSprop), ids=lambda c: c.optimizer_error_input.desc
)
def test_optim_db_error_inputs(case):
    assert_optim_db_error(RMSprop, case)


@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.1, "momentum": 0.5}], ids=str)
def test_differentiable_step_matches_torch(options):
    assert_same_differentiable_grads(RMSprop, options)
    assert_differentiable_gradcheck(RMSprop, options)


def test_differentiable_centered():
    """centered：torch 2.13 连走多步后反向传播会报“被原地修改”（grad_avg 被下一步覆盖），
    所以只和 torch 比一步；多步用有限差分检验我们的导数。"""
    options = {"weight_decay": 0.1, "momentum": 0.5, "centered": True}
    assert_same_differentiable_grads(RMSprop, options, steps=1)
    assert_differentiable_gradcheck(RMSprop, options, steps=3)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("tensor_lr", [False, True])
def test_capturable_math_path(foreach, tensor_lr):
    options = {"foreach": foreach, "momentum": 0.5, "centered": True, "weight_decay": 0.1}
    assert_capturable_math(RMSprop, options, tensor_lr=tensor_lr)
    assert_capturable_math(RMSprop, {"foreach": foreach}, tensor_lr=tensor_lr)


@CUDA
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("lr", [0.01, torch.tensor(0.01)], ids=["float_lr", "tensor_lr"])
def test_cuda_capturable_matches_torch(foreach, lr):
    options = {"lr": lr, "capturable": True, "foreach": foreach, "momentum": 0.5, "centered": True}
    compare_with_torch(RMSprop, options, steps=STEPS, device="cuda").assert_ok()
