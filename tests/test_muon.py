"""Muon 与 torch.optim.Muon 逐步对照：选项网格、参数组、state_dict 互通、错误输入。"""

from __future__ import annotations

import pytest
import torch
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
    triple_ids,
    triples,
)

from optlab.muon import Muon, zeropower_via_newtonschulz
from optlab.testing import default_loss

SHAPES = ((5, 4), (3, 7), (6, 6))  # 高、宽、方：转置与 adjust_lr 的各个分支


def setup(dtype=torch.float32):
    def params():
        gen = torch.Generator().manual_seed(0)
        return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in SHAPES]

    return Setup(params, lambda ps, k: default_loss(ps))


OPTIONS = grid(
    nesterov=[True, False],
    adjust_lr_fn=[None, "original", "match_rms_adamw"],
    weight_decay=[0.0, 0.1],
    momentum=[0.0, 0.9],
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("combos", triples(OPTIONS), ids=triple_ids)
def test_option_grid_matches_torch(combos, dtype):
    """每次运行把三个组合放进三个参数组（每组一个矩阵），网格里每个组合都走 30 步。"""
    compare(Muon, setup(dtype), {"lr": 0.02}, groups=combos, dtype=dtype, skip_grad_steps=(3, 4))


@pytest.mark.parametrize(
    "options",
    [
        {"lr": torch.tensor(0.01)},
        {"ns_steps": 6},
        {"ns_steps": 0},
        {"ns_coefficients": (3.4, -4.7, 2.0)},
        {"eps": 0.5},
    ],
    ids=label,
)
def test_other_options_match_torch(options):
    compare(Muon, setup(), options, steps=20)


def test_two_param_groups_with_different_options():
    groups = [
        {"lr": 0.05, "nesterov": False, "adjust_lr_fn": "match_rms_adamw"},
        {"momentum": 0.5, "weight_decay": 0.0},
    ]
    compare(Muon, setup(), {"lr": 0.02}, groups=groups, skip_grad_steps=(2,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_state_dict_moves_both_ways(dtype):
    assert_state_dict_round_trips(Muon, setup(dtype), {"lr": 0.02, "adjust_lr_fn": "original"})


def test_signature_defaults_and_state_layout():
    assert_same_signature_and_defaults(Muon, setup().params)
    assert_same_state_layout(Muon, setup(), {})
    assert_same_state_layout(Muon, setup(torch.float64), {})


def test_newton_schulz_orthogonalises():
    """NS 的输出奇异值都在 1 附近（默认系数让它们在约 [0.7, 1.2] 里摆动），且为 bfloat16。"""
    gen = torch.Generator().manual_seed(1)
    for shape in [(8, 5), (5, 8)]:
        out = zeropower_via_newtonschulz(
            torch.randn(shape, generator=gen), (3.4445, -4.775, 2.0315), 5, 1e-7
        )
        assert out.dtype == torch.bfloat16 and out.shape == shape
        sv = torch.linalg.svdvals(out.float())
        assert sv.min() > 0.5 and sv.max() < 1.3


def _step_once(cls, shape=(4, 3), dtype=torch.float32, grad=None, **kwargs):
    p = torch.randn(shape, dtype=dtype, requires_grad=True)
    opt = cls([p], **kwargs)
    p.grad = torch.randn_like(p) if grad is None else grad(p)
    opt.step()


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c([torch.zeros(3, 2, requires_grad=True)], lr=-1.0),
        lambda c: c([torch.zeros(3, 2, requires_grad=True)], lr=torch.tensor([0.1, 0.2])),
        lambda c: c([torch.zeros(3, 2, requires_grad=True)], weight_decay=-0.1),
        lambda c: c([torch.zeros(3, 2, requires_grad=True)], momentum=-0.5),
        lambda c: c([torch.zeros(3, 2, requires_grad=True)], adjust_lr_fn="sqrt"),
        lambda c: c([torch.zeros(3, requires_grad=True)]),
        lambda c: c([torch.zeros(2, 2, 2, requires_grad=True)]),
        lambda c: c([torch.zeros((), requires_grad=True)]),
        lambda c: c(
            [
                {"params": [torch.zeros(2, 2, requires_grad=True)]},
                {"params": [torch.zeros(2, requires_grad=True)]},
            ]
        ),
        lambda c: _step_once(c, dtype=torch.complex64),
        lambda c: _step_once(c, grad=lambda p: torch.randn_like(p).to_sparse()),
        lambda c: _step_once(c, ns_steps=100),
        lambda c: _step_once(c, ns_steps=2.5),
        lambda c: _step_once(c, ns_coefficients=(1.0, 2.0)),
    ],
)
def test_bad_inputs_raise_like_torch(build):
    assert_same_error(Muon, build)


@pytest.mark.parametrize("index", range(len(optim_db_error_cases(Muon))))
def test_optim_db_error_inputs(index):
    assert_optim_db_error_like_torch(Muon, index)
