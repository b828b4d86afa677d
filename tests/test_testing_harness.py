"""对照工具 optlab.testing 本身的测试：它必须能发现差异，而不是永远说“通过”。"""

from __future__ import annotations

import math

import pytest
import torch
import torch.optim as toptim

import optlab
from optlab.testing import (
    ParityReport,
    compare_with_torch,
    default_loss,
    make_params,
    max_abs_diff,
)


class SlightlyWrongSGD(optlab.SGD):
    """学习率偷偷乘了 1.001：差异很小，但超出 assert_close 的默认容差。"""

    def update(self, group, params, grads, states):
        group = dict(group, lr=group["lr"] * 1.001)
        super().update(group, params, grads, states)


class WrongStateAdam(optlab.Adam):
    """参数完全正确，只是多存了一个状态键：对照必须因为状态不同而失败。"""

    def init_state(self, group, param):
        state = super().init_state(group, param)
        state["extra"] = torch.zeros(())
        return state


class IgnoresNoneGradSGD(optlab.SGD):
    """梯度为 None 时仍然“更新”：用 skip_grad_steps 能抓住。"""

    def step(self, closure=None):
        loss = super().step(closure)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        p.add_(0.01)
        return loss


def test_identical_optimizer_passes_with_zero_difference():
    report = compare_with_torch(optlab.SGD, {"lr": 0.1, "momentum": 0.9}, steps=10)
    assert report.passed
    report.assert_ok()
    assert report.max_param_diff < 1e-5
    assert len(report.history) == 10
    assert "通过" in report.summary()


def test_small_numeric_error_is_detected():
    report = compare_with_torch(SlightlyWrongSGD, {"lr": 0.1}, torch_optimizer=toptim.SGD, steps=10)
    assert not report.passed
    assert report.first_failure.startswith("第 1 步")
    assert report.max_param_diff > 0
    with pytest.raises(AssertionError, match="未通过"):
        report.assert_ok()


def test_state_key_difference_is_detected_and_can_be_switched_off():
    failing = compare_with_torch(WrongStateAdam, {}, torch_optimizer=toptim.Adam, steps=3)
    assert not failing.passed and "状态键不同" in failing.first_failure
    assert math.isinf(failing.max_state_diff)
    lenient = compare_with_torch(
        WrongStateAdam, {}, torch_optimizer=toptim.Adam, steps=3, check_state=False
    )
    assert lenient.passed


def test_skip_grad_steps_detects_updates_without_gradient():
    ok = compare_with_torch(IgnoresNoneGradSGD, {"lr": 0.1}, torch_optimizer=toptim.SGD, steps=5)
    assert ok.passed  # 没有跳过梯度时看不出问题
    caught = compare_with_torch(
        IgnoresNoneGradSGD,
        {"lr": 0.1},
        torch_optimizer=toptim.SGD,
        steps=5,
        skip_grad_steps=(2,),
    )
    assert not caught.passed and caught.first_failure.startswith("第 3 步")


def test_groups_are_split_in_order_and_get_their_options():
    seen = {}

    class Spy(optlab.SGD):
        def __init__(self, params, **kw):
            super().__init__(params, **kw)
            seen["groups"] = [(len(g["params"]), g["lr"]) for g in self.param_groups]

    compare_with_torch(
        Spy, {"lr": 0.1}, torch_optimizer=toptim.SGD, groups=[{}, {"lr": 0.5}], steps=1
    )
    assert seen["groups"] == [(1, 0.1), (2, 0.5)]


def test_name_string_and_closure_mode():
    report = compare_with_torch("Adam", {"amsgrad": True}, steps=5, use_closure=True)
    assert report.passed and report.name == "Adam"


def test_make_params_is_seeded_and_supports_complex():
    a, b = make_params(seed=3), make_params(seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], make_params(seed=4)[0])
    c = make_params(dtype=torch.complex64)
    assert all(p.dtype == torch.complex64 and p.requires_grad for p in c)
    assert default_loss(c).dtype == torch.float32


def test_max_abs_diff_on_nested_structures():
    a = {"x": torch.tensor([1.0, 2.0]), "y": [1, 2.5]}
    b = {"x": torch.tensor([1.0, 2.5]), "y": [1, 2.0]}
    assert max_abs_diff(a, b) == pytest.approx(0.5)
    assert math.isinf(max_abs_diff({"x": 1}, {"z": 1}))
    assert math.isinf(max_abs_diff([1, 2], [1]))
    assert math.isinf(max_abs_diff(torch.zeros(2), torch.zeros(3)))


def test_tolerances_are_assert_close_defaults():
    """快速路径与 assert_close 的判据一致：恰在容差内通过，稍超出就失败。"""
    from optlab.testing import _close

    base = torch.ones(4)
    assert _close(base, base + 9e-6) is None  # atol 1e-5 + rtol 1.3e-6
    assert _close(base, base + 2e-5) is not None
    double = torch.ones(4, dtype=torch.float64)
    assert _close(double, double + 1.5e-7) is None
    assert _close(double, double + 5e-7) is not None
    assert _close(base, base.double()) is not None  # dtype 不同也算不同
    assert _close(torch.tensor([float("nan")]), torch.tensor([float("nan")])) is not None


def test_report_dataclass_summary_mentions_options_and_dtype():
    report = ParityReport("SGD", {"lr": 0.1}, "cpu", torch.float64, 3)
    text = report.summary()
    assert "SGD" in text and "float64" in text and "lr" in text


def test_summary_shows_parameter_groups():
    """两个参数组的对照不能打印得像一次普通的单组运行。"""
    report = compare_with_torch(
        "SGD", {"lr": 0.02, "momentum": 0.9}, groups=[{}, {"lr": 0.005, "nesterov": True}], steps=2
    )
    text = report.summary()
    assert report.groups == [(1, {}), (2, {"lr": 0.005, "nesterov": True})]
    assert "2 个参数组" in text and "'nesterov': True" in text and "'lr': 0.005" in text
    plain = compare_with_torch("SGD", {"lr": 0.02}, steps=2)
    assert plain.groups is None and "参数组" not in plain.summary()
