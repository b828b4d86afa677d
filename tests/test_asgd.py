"""ASGD 与 torch.optim.ASGD 逐步对照：选项网格（含 t0 前后的平均）、state_dict 互通、报错、capturable。"""

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

from optlab.asgd import ASGD
from optlab.testing import compare_with_torch

# t0=5：第 6 步起 ax 开始真正求平均（mu < 1）；t0=1e6：ax 一直只是参数的拷贝
GRID = grid(
    lambd=[0, 0.1],
    t0=[5, 1e6],
    weight_decay=[0, 0.1],
    maximize=[False, True],
    foreach=[False, True],
)
PAIRS = paired(GRID)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pair", PAIRS, ids=pair_ids(PAIRS))
def test_option_grid_matches_torch(pair, dtype):
    run_pair(ASGD, pair, dtype, lr=0.02)


def test_grid_covers_every_combination():
    covered = [a for a, _ in PAIRS] + [b for _, b in PAIRS]
    assert all(opts in covered for opts in GRID) and len(GRID) == 32


@pytest.mark.parametrize(
    "options",
    [
        {"lr": torch.tensor(0.02), "t0": 3},
        {"lr": torch.tensor(0.02), "t0": 3, "foreach": True},
        {"lr": torch.tensor([0.02]), "t0": 3},  # 1 元素但不是 0 维
        {"lr": 0.02, "alpha": 1.5, "lambd": 0.5, "t0": 0},
        {"lr": 0.02, "lambd": torch.tensor(0.1), "alpha": torch.tensor(0.6), "foreach": True},
        {"lr": 0.02, "weight_decay": torch.tensor(0.1), "t0": torch.tensor(4.0)},
        {"lr": 0.02, "lambd": -0.5, "alpha": -1.0, "t0": -3},  # torch 不检查这三个
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_tensor_and_unchecked_hyperparameters(options, dtype):
    compare_with_torch(ASGD, with_dtype(options, dtype), steps=30, dtype=dtype).assert_ok()


def test_ax_is_running_average_after_t0():
    """t0=0 且 lambd=0 时 eta 恒为 lr；第 t 步用的 mu = 1/max(1, t-1)，所以 ax 是 θ_2…θ_t 的算术平均。"""
    p = torch.tensor([1.0], requires_grad=True)
    opt = ASGD([p], lr=0.1, lambd=0.0, t0=0)
    seen = []
    for _ in range(6):
        p.grad = torch.ones_like(p)
        opt.step()
        seen.append(p.detach().clone())
    torch.testing.assert_close(opt.state[p]["ax"], torch.stack(seen[1:]).mean(0))


def test_signature_defaults_and_state_layout():
    assert_same_signature_and_defaults(ASGD)
    check_state_layout(ASGD, {})
    check_state_layout(ASGD, {"foreach": True}, dtype=torch.complex64)


@pytest.mark.parametrize(
    "foreach, dtype", [(False, torch.float32), (True, torch.complex64)], ids=["loop-fp32", "foreach-c64"]
)
def test_state_dict_round_trip_both_ways(foreach, dtype):
    options = {"lr": 0.02, "lambd": 0.1, "t0": 5, "weight_decay": 0.1, "foreach": foreach}
    check_state_dict_round_trip(ASGD, options, dtype)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1.0},
        {"lr": torch.tensor(-1.0)},
        {"lr": torch.tensor([0.1, 0.2])},
        {"weight_decay": -0.5},
        {"fused": True},
    ],
)
def test_bad_constructor_inputs_raise_like_torch(kwargs):
    check_error_matches_torch(ASGD, kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"differentiable": True, "foreach": True}, {"capturable": True, "foreach": False}]
)
def test_bad_step_inputs_raise_like_torch(kwargs):
    check_error_matches_torch(ASGD, kwargs, on_step=True)


def test_optim_db_error_inputs():
    check_optim_db_errors(ASGD)


@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_on_cpu_asserts_like_torch(foreach):
    check_capturable_on_cpu_asserts(ASGD, foreach)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.02, "lambd": 0.1, "t0": 5, "weight_decay": 0.1, "maximize": True},
        {"lr": torch.tensor(0.02), "lambd": 0.01, "t0": 3},
        {"lr": torch.tensor([0.02]), "lambd": 0.01, "t0": 3},
    ],
)
def test_capturable_math_matches_torch(options, dtype, foreach):
    # foreach 版本与 torch 一样写成 θ - η(g + λθ)，所以各自对照 torch 的同一条路径
    check_capturable_math(ASGD, "asgd", options, dtype, foreach, against_loop=False)


@pytest.mark.parametrize("options", [{"weight_decay": 0.1, "t0": 1}, {"maximize": True, "t0": 0}])
def test_differentiable_step_lets_gradients_flow(options):
    # torch 的 ASGD 用 eta.item() 更新参数，lr 的梯度不会流回去，所以这里用 Python 数
    check_differentiable(ASGD, options, steps=4, tensor_lr=False)


def test_default_dtype_float64():
    check_default_dtype_float64(ASGD, {"lr": 0.02, "t0": 3, "foreach": True})


@CUDA
@pytest.mark.parametrize("variant", CUDA_VARIANTS)
def test_cuda_variants(variant):
    check_cuda_variant(ASGD, variant, {"lr": 0.02, "lambd": 0.1, "t0": 5})
