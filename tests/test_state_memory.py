"""optlab.lab.state_memory：实测的状态大小与公式一致，且 optlab 与 torch.optim 的状态一样大。"""

import pytest
import torch

import optlab
from optlab.lab.state_memory import expected_state_numel, measure_state, state_size

SHAPES = [(6, 5), (5,), (4, 3, 3, 3)]
CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("Adagrad", {}),
    ("Adadelta", {}),
    ("RMSprop", {"momentum": 0.9, "centered": True}),
    ("Adamax", {}),
    ("NAdam", {}),
    ("RAdam", {}),
    ("ASGD", {}),
    ("Rprop", {}),
    ("Adafactor", {}),
]


@pytest.mark.parametrize("name,options", CASES, ids=lambda v: str(v))
def test_formula_matches_torch_state(name, options):
    measured = measure_state(getattr(torch.optim, name), options, SHAPES)
    assert measured.buffer_numel == sum(expected_state_numel(name, options, s) for s in SHAPES)
    assert measured.param_numel == sum(torch.Size(s).numel() for s in SHAPES)


@pytest.mark.parametrize("name,options", CASES, ids=lambda v: str(v))
def test_optlab_state_is_as_large_as_torch(name, options):
    ours = measure_state(getattr(optlab, name), options, SHAPES)
    theirs = measure_state(getattr(torch.optim, name), options, SHAPES)
    assert ours == theirs


def test_lbfgs_history_counts_list_tensors_and_respects_bound():
    for history in (2, 4):
        size = measure_state(torch.optim.LBFGS, {"history_size": history}, [(50,)], steps=5)
        assert expected_state_numel("LBFGS", {}, (50,)) is None
        assert 2 < size.buffers_per_param <= 2 * history + 2


def test_scalars_are_separate_and_bytes_follow_dtype():
    p = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p])
    p.grad = torch.ones_like(p)
    opt.step()
    size = state_size(opt)
    assert size.buffer_bytes == 2 * 10 * 8
    assert size.bytes_per_param == 16
    assert size.scalar_bytes == opt.state[p]["step"].element_size()
