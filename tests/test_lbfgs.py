"""LBFGS 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）：
Rosenbrock 谷底上的线搜索与历史、max_eval 的默认值、闭包/线搜索/参数组的错误。"""

from __future__ import annotations

import pytest
import torch
from optim_registry import SPECS
from optim_test_support import Problem, compare, grid, outcome

from optlab.lbfgs import LBFGS

SPEC = SPECS["LBFGS"]


def rosenbrock(ps, k=0):
    x = ps[0]
    return ((1 - x[:-1]) ** 2).sum() + 100 * ((x[1:] - x[:-1] ** 2) ** 2).sum()


def rosen_problem(dtype=torch.float32):
    return Problem(
        lambda: [torch.tensor([-1.5, 2.0, 0.5, -0.7], dtype=dtype, requires_grad=True)],
        rosenbrock,
        closure=True,
    )


OPTIONS = grid(line_search_fn=[None, "strong_wolfe"], history_size=[100, 3], max_iter=[20, 4])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_rosenbrock_matches_torch(options, dtype):
    """弯曲的窄谷：强 Wolfe 线搜索要多次插值、历史要截断，每一步都与 torch 相同。"""
    compare(SPEC, options, prob=rosen_problem(dtype), dtype=dtype)


def test_max_eval_defaults_to_five_quarters_of_max_iter():
    p = torch.zeros(2, requires_grad=True)
    for max_iter in (7, 2.5, -1):
        ours, theirs = LBFGS([p], max_iter=max_iter), torch.optim.LBFGS([p], max_iter=max_iter)
        assert ours.defaults == theirs.defaults
        assert ours.defaults["max_eval"] == max_iter * 5 // 4


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
        lambda c: c(
            [
                {"params": [torch.zeros(2, requires_grad=True)]},
                {"params": [torch.zeros(1, requires_grad=True)]},
            ]
        ),
        lambda c: c([torch.zeros(3, requires_grad=True)]).step(),  # 没有闭包
        lambda c: _two_steps(c, line_search_fn="armijo"),
        lambda c: _two_steps(c, history_size=0),
        lambda c: _two_steps(c, add_group=True),
    ],
    ids=["two_groups", "no_closure", "unknown_line_search", "history_size_0", "add_group"],
)
def test_bad_inputs_raise_like_torch(build):
    theirs = outcome(lambda: build(torch.optim.LBFGS), lambda _: None)
    assert theirs[1] is not None, "torch 接受了这个输入，它不是错误输入"
    assert outcome(lambda: build(LBFGS), lambda _: None)[:2] == theirs[:2]
