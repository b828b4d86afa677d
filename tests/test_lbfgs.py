"""LBFGS 与 torch.optim.LBFGS 逐步对照：有无强 Wolfe 线搜索、Rosenbrock 与默认损失、历史长度、复数。"""

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
)

from optlab.lbfgs import LBFGS
from optlab.testing import default_loss, make_params

STEPS = 6  # 每个 step 内部最多迭代 max_iter 次、求值 max_eval 次


def rosenbrock(ps, k=0):
    x = ps[0]
    return ((1 - x[:-1]) ** 2).sum() + 100 * ((x[1:] - x[:-1] ** 2) ** 2).sum()


def rosen_setup(dtype=torch.float32):
    return Setup(
        lambda: [torch.tensor([-1.5, 2.0, 0.5, -0.7], dtype=dtype, requires_grad=True)],
        rosenbrock,
        use_closure=True,
    )


def default_setup(dtype=torch.float32):
    return Setup(lambda: make_params(dtype=dtype), lambda ps, k: default_loss(ps), use_closure=True)


OPTIONS = grid(
    line_search_fn=[None, "strong_wolfe"],
    history_size=[100, 3],
    max_iter=[20, 4],
)
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])


@DTYPES
@pytest.mark.parametrize("options", OPTIONS, ids=label)
def test_rosenbrock_matches_torch(options, dtype):
    compare(LBFGS, rosen_setup(dtype), options, steps=STEPS, dtype=dtype)


@DTYPES
@pytest.mark.parametrize("options", OPTIONS, ids=label)
def test_default_loss_matches_torch(options, dtype):
    """第 2 步第一个参数没有梯度：按 0 梯度处理。"""
    compare(LBFGS, default_setup(dtype), options, steps=STEPS, dtype=dtype, skip_grad_steps=(2,))


@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.1},
        {"lr": torch.tensor(0.5), "line_search_fn": "strong_wolfe"},
        {"lr": torch.tensor([0.5])},
        {"tolerance_grad": 1e-3, "tolerance_change": 1e-4},
        {"max_iter": 7, "max_eval": 3, "line_search_fn": "strong_wolfe"},
        {"max_iter": 0},
        {"history_size": 1},
    ],
    ids=label,
)
def test_other_options_match_torch(options):
    compare(LBFGS, default_setup(), options, steps=STEPS)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_complex_params_are_viewed_as_real(line_search_fn):
    setup = Setup(
        lambda: make_params(dtype=torch.complex64),
        lambda ps, k: default_loss(ps),
        use_closure=True,
    )
    compare(LBFGS, setup, {"line_search_fn": line_search_fn}, steps=STEPS, dtype=torch.complex64)


def test_sparse_gradients_are_densified():
    def loss(ps, k):
        e = torch.nn.functional.embedding(torch.tensor([0, 2, 2]), ps[0], sparse=True)
        return ((e - 0.3) ** 2).sum() + (ps[0] ** 4).sum()

    setup = Setup(lambda: [torch.linspace(-1, 1, 8).view(4, 2).requires_grad_()], loss, True)
    compare(LBFGS, setup, {"line_search_fn": "strong_wolfe"}, steps=STEPS)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_moves_both_ways(line_search_fn):
    options = {"line_search_fn": line_search_fn, "max_iter": 3, "history_size": 4}
    assert_state_dict_round_trips(LBFGS, default_setup(), options, before=3, after=3)


def test_signature_defaults_and_state_layout():
    assert_same_signature_and_defaults(LBFGS, default_setup().params)
    for options in ({}, {"max_iter": 1}, {"line_search_fn": "strong_wolfe"}):
        assert_same_state_layout(LBFGS, default_setup(), options)
    # max_eval 默认是 max_iter * 5 // 4
    p = torch.zeros(2, requires_grad=True)
    for max_iter in (7, 2.5, -1):
        assert (
            LBFGS([p], max_iter=max_iter).defaults
            == torch.optim.LBFGS([p], max_iter=max_iter).defaults
        )


def _two_steps(c, *, add_group=False, **kwargs):
    p = torch.randn(4, requires_grad=True)
    opt = c([p], **kwargs)
    if add_group:
        opt.add_param_group({"params": [torch.randn(2, requires_grad=True)]})

    def closure():
        opt.zero_grad()
        loss = rosenbrock([p])
        loss.backward()
        return loss

    opt.step(closure)
    opt.step(closure)


@pytest.mark.parametrize(
    "build",
    [
        lambda c: c([torch.zeros(3, requires_grad=True)], lr=-1.0),
        lambda c: c([torch.zeros(3, requires_grad=True)], lr=torch.tensor([0.1, 0.2])),
        lambda c: c(
            [
                {"params": [torch.zeros(2, requires_grad=True)]},
                {"params": [torch.zeros(1, requires_grad=True)]},
            ]
        ),
        lambda c: c([torch.zeros(3, requires_grad=True)]).step(),
        lambda c: _two_steps(c, line_search_fn="armijo"),
        lambda c: _two_steps(c, history_size=0),
        lambda c: _two_steps(c, add_group=True),
    ],
)
def test_bad_inputs_raise_like_torch(build):
    assert_same_error(LBFGS, build)


@pytest.mark.parametrize("index", range(len(optim_db_error_cases(LBFGS))))
def test_optim_db_error_inputs(index):
    assert_optim_db_error_like_torch(LBFGS, index, closure=lambda: torch.tensor(0.0))
