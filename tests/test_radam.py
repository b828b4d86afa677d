"""RAdam 与 torch.optim.RAdam 逐步对照：选项网格（含整流开关前后）、state_dict 互通、报错、capturable。"""

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

from optlab.radam import RAdam
from optlab.testing import compare_with_torch

DECAY = [
    {"weight_decay": 0, "decoupled_weight_decay": False},
    {"weight_decay": 0.1, "decoupled_weight_decay": False},
    {"weight_decay": 0.1, "decoupled_weight_decay": True},
]
# β₂=0.999：第 6 步起 ρ_t > 5，前几步退化为动量 SGD；β₂=0.9：ρ∞=19，第 2 步就开始整流
GRID = [
    {**decay, **rest}
    for decay in DECAY
    for rest in grid(betas=[(0.9, 0.999), (0.8, 0.9)], maximize=[False, True], foreach=[False, True])
]
PAIRS = paired(GRID)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pair", PAIRS, ids=pair_ids(PAIRS))
def test_option_grid_matches_torch(pair, dtype):
    run_pair(RAdam, pair, dtype, lr=0.05)


def test_grid_covers_every_combination():
    covered = [a for a, _ in PAIRS] + [b for _, b in PAIRS]
    assert all(opts in covered for opts in GRID) and len(GRID) == 24


@pytest.mark.parametrize(
    "options",
    [
        {"lr": torch.tensor(0.05)},
        {"lr": torch.tensor(0.05), "foreach": True},
        {"lr": torch.tensor([0.05]), "foreach": True},  # 1 元素但不是 0 维
        {"lr": 0.05, "betas": (torch.tensor(0.8), torch.tensor(0.9))},
        {"lr": 0.05, "betas": (torch.tensor(0.8), 0.9), "foreach": True},
        {"lr": 0.05, "weight_decay": torch.tensor(0.1), "eps": torch.tensor(1e-3)},
        {"lr": 0.05, "betas": (0.9, 0.5), "foreach": True},  # ρ∞ = 3：永远不整流
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_tensor_hyperparameters_and_rectification(options, dtype):
    compare_with_torch(RAdam, with_dtype(options, dtype), steps=30, dtype=dtype).assert_ok()


def test_rectification_switches_on_mid_run():
    """β₂=0.999 时前 5 步是动量 SGD（更新不含 √v），第 6 步起才用自适应学习率。"""
    p = torch.zeros(1, requires_grad=True)
    opt = RAdam([p], lr=1.0, betas=(0.0, 0.999))
    moves = []
    for _ in range(7):
        before = p.detach().clone()
        p.grad = torch.full_like(p, 100.0)
        opt.step()
        moves.append((before - p.detach()).item())
    assert moves[:5] == pytest.approx([100.0] * 5)  # 未整流：步长 = lr·m̂ = 100
    assert 0 < moves[5] < 1 and 0 < moves[6] < 1  # 整流后：≈ lr·r_t，远小于 100


def test_signature_defaults_and_state_layout():
    assert_same_signature_and_defaults(RAdam)
    check_state_layout(RAdam, {})
    check_state_layout(RAdam, {"foreach": True}, dtype=torch.complex64)


@pytest.mark.parametrize(
    "foreach, dtype", [(False, torch.float32), (True, torch.complex64)], ids=["loop-fp32", "foreach-c64"]
)
def test_state_dict_round_trip_both_ways(foreach, dtype):
    options = {"lr": 0.05, "weight_decay": 0.1, "foreach": foreach}
    check_state_dict_round_trip(RAdam, options, dtype)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1.0},
        {"lr": torch.tensor([0.1, 0.2])},
        {"eps": -1e-8},
        {"betas": (1.0, 0.5)},
        {"betas": (0.5, 1.0)},
        {"weight_decay": -1},
        {"fused": True},
    ],
)
def test_bad_constructor_inputs_raise_like_torch(kwargs):
    check_error_matches_torch(RAdam, kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"differentiable": True, "foreach": True},
        {"capturable": True},
        {"betas": (0.8, torch.tensor(0.9)), "foreach": True},  # torch 的 foreach 不支持
    ],
)
def test_bad_step_inputs_raise_like_torch(kwargs):
    check_error_matches_torch(RAdam, kwargs, on_step=True)


def test_optim_db_error_inputs():
    check_optim_db_errors(RAdam)


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_on_cpu_asserts_like_torch(foreach):
    check_capturable_on_cpu_asserts(RAdam, foreach)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.05, "weight_decay": 0.1},
        {"lr": torch.tensor(0.05), "weight_decay": 0.1, "decoupled_weight_decay": True},
        {"lr": 0.05, "maximize": True, "betas": (0.8, 0.9)},
        {"lr": torch.tensor([0.05])},
    ],
)
def test_capturable_math_matches_torch(options, dtype, foreach):
    check_capturable_math(RAdam, "radam", options, dtype, foreach)


@pytest.mark.parametrize(
    "options",
    [{"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True}, {"maximize": True}],
)
def test_differentiable_step_lets_gradients_flow(options):
    check_differentiable(RAdam, options, steps=8)  # 8 步：跨过整流开关


def test_default_dtype_float64():
    check_default_dtype_float64(RAdam, {"lr": 0.05, "foreach": True})


@CUDA
@pytest.mark.parametrize("variant", CUDA_VARIANTS)
def test_cuda_variants(variant):
    check_cuda_variant(RAdam, variant, {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True})
