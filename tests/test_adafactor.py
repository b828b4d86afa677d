"""Adafactor 与 torch.optim.Adafactor 逐步对照：for-loop 与 foreach、选项网格、state_dict、错误输入。"""

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

from optlab.adafactor import Adafactor
from optlab.testing import default_loss

SHAPES = ((5, 4), (2, 3, 2), (7,), ())  # 分解的二维、三维，不分解的一维、零维


def setup(dtype=torch.float32, shapes=SHAPES):
    def params():
        gen = torch.Generator().manual_seed(0)
        return [torch.randn(s, generator=gen, dtype=dtype).requires_grad_() for s in shapes]

    return Setup(params, lambda ps, k: default_loss(ps))


OPTIONS = grid(
    maximize=[False, True],
    weight_decay=[0.0, 0.1],
    beta2_decay=[-0.8, -1.0],
    eps=[(None, 1e-3), (1e-20, 1e-2)],
    d=[1.0, 1.5],
)
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
FOREACH = pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])


@DTYPES
@FOREACH
@pytest.mark.parametrize("combos", triples(OPTIONS), ids=triple_ids)
def test_option_grid_matches_torch(combos, foreach, dtype):
    """三个组合放进三个参数组（最后一组含一维与零维参数），每个组合都走 30 步。"""
    compare(
        Adafactor,
        setup(dtype),
        {"lr": 0.05, "foreach": foreach},
        groups=combos,
        dtype=dtype,
        skip_grad_steps=(3, 4),
    )


@FOREACH
@pytest.mark.parametrize(
    "options",
    [{}, {"lr": torch.tensor(0.05), "weight_decay": 0.1}, {"lr": 0.5, "beta2_decay": 0.0}],
    ids=label,
)
def test_other_options_match_torch(options, foreach):
    compare(Adafactor, setup(), dict(options, foreach=foreach), steps=20)


def test_foreach_none_uses_the_loop_and_matches():
    compare(Adafactor, setup(), {"foreach": None}, steps=10)


@FOREACH
def test_mixed_dtypes_in_one_group(foreach):
    """一个组里混合 fp64 与 fp32：ε₁=None 时整组用第一个参数 dtype 的机器精度（与 torch 的 for-loop 相同）。"""

    def params():
        gen = torch.Generator().manual_seed(0)
        return [
            torch.randn(3, 2, generator=gen, dtype=dt).requires_grad_()
            for dt in (torch.float32, torch.float64)
        ]

    if foreach:  # torch 的 foreach 按 (设备, dtype) 分桶的顺序不固定：只比较 ε₁ 给定时
        compare(
            Adafactor,
            Setup(params, lambda ps, k: default_loss(ps)),
            {"eps": (1e-30, 1e-3), "foreach": True},
            steps=10,
        )
    else:
        compare(Adafactor, Setup(params, lambda ps, k: default_loss(ps)), {}, steps=10)


@DTYPES
@FOREACH
def test_state_dict_moves_both_ways(foreach, dtype):
    assert_state_dict_round_trips(
        Adafactor, setup(dtype), {"foreach": foreach, "weight_decay": 0.1}
    )


def test_signature_defaults_and_state_layout():
    assert_same_signature_and_defaults(Adafactor, setup().params)
    for foreach in (False, True):
        assert_same_state_layout(Adafactor, setup(), {"foreach": foreach})
        assert_same_state_layout(Adafactor, setup(torch.float64), {"foreach": foreach})


def test_step_counter_follows_default_dtype():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert_same_state_layout(Adafactor, setup(torch.float32), {})
    finally:
        torch.set_default_dtype(before)


def _step_once(cls, shape=(4, 3), dtype=torch.float32, grad=None, **kwargs):
    p = torch.randn(shape, dtype=dtype, requires_grad=True)
    opt = cls([p], **kwargs)
    p.grad = torch.randn_like(p) if grad is None else grad(p)
    opt.step()


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c([torch.zeros(3, requires_grad=True)], lr=-1.0),
        lambda c: c([torch.zeros(3, requires_grad=True)], lr=torch.tensor([0.1, 0.2])),
        lambda c: c([torch.zeros(3, requires_grad=True)], beta2_decay=0.5),
        lambda c: c([torch.zeros(3, requires_grad=True)], eps=(-1.0, 1e-3)),
        lambda c: c([torch.zeros(3, requires_grad=True)], eps=(None, -1.0)),
        lambda c: c([torch.zeros(3, requires_grad=True)], d=0.5),
        lambda c: c([torch.zeros(3, requires_grad=True)], weight_decay=-0.1),
        lambda c: _step_once(c, dtype=torch.complex64),
        lambda c: _step_once(c, dtype=torch.complex64, foreach=True),
        lambda c: _step_once(c, grad=lambda p: torch.randn_like(p).to_sparse()),
        lambda c: _step_once(c, grad=lambda p: torch.randn_like(p).to_sparse(), foreach=True),
        lambda c: _step_once(c, shape=(0, 3)),
        lambda c: _step_once(c, shape=(0,), foreach=True),
    ],
)
def test_bad_inputs_raise_like_torch(build):
    assert_same_error(Adafactor, build)


@pytest.mark.parametrize("index", range(len(optim_db_error_cases(Adafactor))))
def test_optim_db_error_inputs(index):
    assert_optim_db_error_like_torch(Adafactor, index)
