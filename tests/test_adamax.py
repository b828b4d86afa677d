"""Adamax 与 torch.optim.Adamax 逐步对照：选项网格、张量超参数、state_dict 互通、报错、capturable。"""

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

from optlab.adamax import Adamax

GRID = grid(
    betas=[(0.9, 0.999), (0.5, 0.8)],
    weight_decay=[0, 0.1],
    maximize=[False, True],
    foreach=[False, True],
)
PAIRS = paired(GRID)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pair", PAIRS, ids=pair_ids(PAIRS))
def test_option_grid_matches_torch(pair, dtype):
    run_pair(Adamax, pair, dtype, lr=0.05)


def test_grid_covers_every_combination():
    covered = [a for a, _ in PAIRS] + [b for _, b in PAIRS]
    assert all(opts in covered for opts in GRID) and len(GRID) == 16


@pytest.mark.parametrize(
    "options",
    [
        {"lr": torch.tensor(0.05)},
        {"lr": torch.tensor(0.05), "foreach": True},
        {"lr": torch.tensor([0.05]), "foreach": True},  # 1 元素但不是 0 维
        {"lr": 0.05, "betas": (torch.tensor(0.8), 0.9)},
        {"lr": 0.05, "betas": (0.8, torch.tensor(0.9)), "foreach": True},
        {"lr": 0.05, "weight_decay": torch.tensor(0.1), "eps": torch.tensor(1e-3)},
        {"lr": 0.05, "eps": 0.5, "foreach": True},
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_tensor_hyperparameters_and_eps(options, dtype):
    from optlab.testing import compare_with_torch

    compare_with_torch(Adamax, with_dtype(options, dtype), steps=30, dtype=dtype).assert_ok()


def test_signature_defaults_and_state_layout():
    assert_same_signature_and_defaults(Adamax)
    check_state_layout(Adamax, {})
    check_state_layout(Adamax, {"foreach": True}, dtype=torch.complex64)


@pytest.mark.parametrize(
    "foreach, dtype", [(False, torch.float32), (True, torch.complex64)], ids=["loop-fp32", "foreach-c64"]
)
def test_state_dict_round_trip_both_ways(foreach, dtype):
    check_state_dict_round_trip(Adamax, {"lr": 0.05, "weight_decay": 0.1, "foreach": foreach}, dtype)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1.0},
        {"lr": torch.tensor(-1.0)},
        {"lr": torch.tensor([0.1, 0.2])},
        {"eps": -1e-8},
        {"betas": (1.0, 0.5)},
        {"betas": (0.5, 1.0)},
        {"betas": (-0.1, 0.5)},
        {"betas": (torch.tensor([0.9, 0.9]), torch.tensor(0.9))},
        {"weight_decay": -0.1},
        {"fused": True},
    ],
)
def test_bad_constructor_inputs_raise_like_torch(kwargs):
    check_error_matches_torch(Adamax, kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"differentiable": True, "foreach": True},
        {"capturable": True, "foreach": False},
        {"betas": (torch.tensor(0.8), 0.9), "foreach": True},  # torch 的 foreach 不支持
    ],
)
def test_bad_step_inputs_raise_like_torch(kwargs):
    check_error_matches_torch(Adamax, kwargs, on_step=True)


def test_sparse_gradient_rejected_like_torch():
    def params():
        p = torch.randn(4, 2, requires_grad=True)
        return [p]

    for lib_cls in (Adamax, torch.optim.Adamax):
        p = params()[0]
        p.grad = torch.sparse_coo_tensor(
            [[0, 2]], torch.ones(2, 2), (4, 2), check_invariants=True
        )
        with pytest.raises(RuntimeError, match="sparse"):
            lib_cls([p]).step()


def test_optim_db_error_inputs():
    check_optim_db_errors(Adamax)


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_on_cpu_asserts_like_torch(foreach):
    check_capturable_on_cpu_asserts(Adamax, foreach)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize(
    "options",
    [{"lr": 0.05, "weight_decay": 0.1}, {"lr": torch.tensor(0.05), "maximize": True}],
)
def test_capturable_math_matches_torch(options, dtype, foreach):
    check_capturable_math(Adamax, "adamax", options, dtype, foreach)


@pytest.mark.parametrize(
    "options",
    [
        {"weight_decay": 0.1},
        {"maximize": True},
        {"betas": (torch.tensor(0.8, dtype=torch.float64), torch.tensor(0.9))},
    ],
)
def test_differentiable_step_lets_gradients_flow(options):
    # torch 的 Adamax 在 differentiable 时不接受张量 lr（见下一个测试），这里用 Python 数
    check_differentiable(Adamax, options, tensor_lr=False)


def test_differentiable_with_tensor_lr_rejected_like_torch():
    def params():
        return [torch.randn(3, requires_grad=True).clone()]

    check_error_matches_torch(
        Adamax,
        {"lr": torch.tensor(0.1, requires_grad=True), "differentiable": True},
        on_step=True,
        params=params,
    )


def test_default_dtype_float64():
    check_default_dtype_float64(Adamax, {"lr": 0.05, "foreach": True})


@CUDA
@pytest.mark.parametrize("variant", CUDA_VARIANTS)
def test_cuda_variants(variant):
    check_cuda_variant(Adamax, variant, {"lr": 0.05, "weight_decay": 0.1})
