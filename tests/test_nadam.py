"""NAdam 与 torch.optim.NAdam 逐步对照：选项网格、张量超参数、state_dict 互通、报错、capturable。"""

from __future__ import annotations

import pytest
import torch
from optim_family_checks import (
    CUDA,
    CUDA_VARIANTS,
    DTYPE_IDS,
    DTYPES,
    check_capturable_math,
    check_capturable_on_cpu_asserts,
    check_cuda_variant,
    check_default_dtype_float64,
    check_differentiable,
    check_error_matches_torch,
    check_optim_db_errors,
    check_state_dict_round_trip,
    check_state_layout,
    pair_ids,
    paired,
    run_pair,
    with_dtype,
)
from optim_test_support import assert_same_signature_and_defaults, grid

from optlab.nadam import NAdam
from optlab.testing import compare_with_torch

# 权重衰减三种情形：无、L2（加进梯度）、解耦（直接缩放参数）；wd=0 时 decoupled 不起作用，不重复测
DECAY = [
    {"weight_decay": 0, "decoupled_weight_decay": False},
    {"weight_decay": 0.1, "decoupled_weight_decay": False},
    {"weight_decay": 0.1, "decoupled_weight_decay": True},
]
GRID = [
    {**decay, **rest}
    for decay in DECAY
    for rest in grid(momentum_decay=[4e-3, 0.05], maximize=[False, True], foreach=[False, True])
]
PAIRS = paired(GRID)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pair", PAIRS, ids=pair_ids(PAIRS))
def test_option_grid_matches_torch(pair, dtype):
    run_pair(NAdam, pair, dtype, lr=0.04)


def test_grid_covers_every_combination():
    covered = [a for a, _ in PAIRS] + [b for _, b in PAIRS]
    assert all(opts in covered for opts in GRID) and len(GRID) == 24


@pytest.mark.parametrize(
    "options",
    [
        {"lr": torch.tensor(0.04)},
        {"lr": torch.tensor(0.04), "foreach": True},
        {"lr": torch.tensor([0.04]), "foreach": True},  # 1 元素但不是 0 维
        {"lr": 0.04, "betas": (torch.tensor(0.8), torch.tensor(0.9))},
        {"lr": 0.04, "momentum_decay": torch.tensor(0.05)},
        {"lr": 0.04, "weight_decay": torch.tensor(0.1), "eps": torch.tensor(1e-3)},
        {"lr": 0.04, "eps": 0.5, "foreach": True, "betas": (0.0, 0.5)},
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_tensor_hyperparameters_and_extremes(options, dtype):
    compare_with_torch(NAdam, with_dtype(options, dtype), steps=30, dtype=dtype).assert_ok()


def test_signature_defaults_and_state_layout():
    assert_same_signature_and_defaults(NAdam)
    check_state_layout(NAdam, {})
    check_state_layout(NAdam, {"foreach": True}, dtype=torch.complex64)


@pytest.mark.parametrize(
    "foreach, dtype", [(False, torch.float32), (True, torch.complex64)], ids=["loop-fp32", "foreach-c64"]
)
def test_state_dict_round_trip_both_ways(foreach, dtype):
    options = {"lr": 0.04, "weight_decay": 0.1, "decoupled_weight_decay": True, "foreach": foreach}
    check_state_dict_round_trip(NAdam, options, dtype)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1.0},
        {"lr": torch.tensor([0.1, 0.2])},
        {"eps": -1e-8},
        {"betas": (1.0, 0.5)},
        {"betas": (0.5, 1.0)},
        {"weight_decay": -0.1},
        {"momentum_decay": -0.2},
        {"momentum_decay": torch.tensor(-0.2)},
        {"fused": True},
    ],
)
def test_bad_constructor_inputs_raise_like_torch(kwargs):
    check_error_matches_torch(NAdam, kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"differentiable": True, "foreach": True},
        {"capturable": True, "foreach": True},
        # torch 的 foreach（非 capturable）不支持这些张量超参数
        {"betas": (torch.tensor(0.8), 0.9), "foreach": True},
        {"betas": (0.8, torch.tensor(0.9)), "foreach": True},
        {"momentum_decay": torch.tensor(0.01), "foreach": True},
    ],
)
def test_bad_step_inputs_raise_like_torch(kwargs):
    check_error_matches_torch(NAdam, kwargs, on_step=True)


def test_optim_db_error_inputs():
    check_optim_db_errors(NAdam)


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_on_cpu_asserts_like_torch(foreach):
    check_capturable_on_cpu_asserts(NAdam, foreach)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": torch.tensor(0.01), "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.01, "maximize": True, "momentum_decay": 0.05},
    ],
)
def test_capturable_math_matches_torch(options, dtype, foreach):
    check_capturable_math(NAdam, "nadam", options, dtype, foreach)


@pytest.mark.parametrize(
    "options",
    [{"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True}, {"maximize": True}],
)
def test_differentiable_step_lets_gradients_flow(options):
    check_differentiable(NAdam, options)


def test_default_dtype_float64():
    check_default_dtype_float64(NAdam, {"lr": 0.04, "foreach": True})


@CUDA
@pytest.mark.parametrize("variant", CUDA_VARIANTS)
def test_cuda_variants(variant):
    check_cuda_variant(NAdam, variant, {"lr": 0.01, "weight_decay": 0.1})
