"""Adagrad 与 torch.optim.Adagrad 逐步对照：选项网格、稀疏梯度、fused、state_dict、错误输入。"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from optim_check_helpers import (
    CUDA,
    DTYPE_IDS,
    DTYPES,
    STEPS,
    assert_optim_db_error,
    assert_same_defaults,
    assert_same_differentiable_grads,
    assert_same_error,
    assert_same_signature,
    assert_same_state_layout,
    assert_state_dict_round_trips,
    ids,
    optim_db_error_cases,
    run_groups,
    triples,
)
from optim_test_support import grid

from optlab.adagrad import Adagrad
from optlab.testing import compare_with_torch

GRID = grid(
    weight_decay=[0, 0.1],
    lr_decay=[0, 0.3],
    initial_accumulator_value=[0, 0.2],
    maximize=[False, True],
)
# 每种实现（for-loop / foreach / fused）都跑完整网格；fused 不支持复数
RUNS = triples(
    [dict(c, foreach=False) for c in GRID]
    + [dict(c, foreach=True) for c in GRID]
    + [dict(c, fused=True) for c in GRID]
)


# torch 的 fused Adagrad 不接受复数参数（拒绝本身由 test_fused_rejects_complex 检查），网格里不生成这些组合
GRID_CASES = [
    pytest.param(combos, dtype, id=f"{name}-{dtype_id}")
    for combos, name in zip(RUNS, ids(RUNS))
    for dtype, dtype_id in zip(DTYPES, DTYPE_IDS)
    if not (dtype.is_complex and any(c.get("fused") for c in combos))
]


@pytest.mark.parametrize("combos,dtype", GRID_CASES)
def test_option_grid_matches_torch(combos, dtype):
    run_groups(Adagrad, combos, dtype, lr=0.1)


@pytest.mark.parametrize(
    "impl", [{}, {"foreach": True}, {"fused": True}], ids=["loop", "foreach", "fused"]
)
def test_tensor_lr(impl):
    compare_with_torch(
        Adagrad, dict(lr=torch.tensor(0.05), lr_decay=0.1, **impl), steps=STEPS
    ).assert_ok()


def test_signature_and_defaults():
    assert_same_signature(Adagrad)
    assert_same_defaults(Adagrad)
    assert_same_defaults(Adagrad, lr=0.3, lr_decay=0.1, fused=True)


@pytest.mark.parametrize(
    "options,dtype",
    [
        pytest.param(options, dtype, id=f"{options}-{dtype_id}")
        for options in ({}, {"fused": True}, {"initial_accumulator_value": 0.5})
        for dtype, dtype_id in zip(DTYPES, DTYPE_IDS)
        if not (dtype.is_complex and options.get("fused"))  # fused 不接受复数参数
    ],
)
def test_state_created_at_construction(options, dtype):
    """torch 在构造时就建好 step 与 sum（复数参数的实部、虚部都从 τ 开始）。"""
    p = torch.randn(3, dtype=dtype, requires_grad=True)
    ours, theirs = Adagrad([p], **options), torch.optim.Adagrad([p], **options)
    s_ours, s_theirs = ours.state_dict()["state"], theirs.state_dict()["state"]
    assert list(s_ours[0]) == list(s_theirs[0]) == ["step", "sum"]
    for key in ("step", "sum"):
        assert s_ours[0][key].dtype == s_theirs[0][key].dtype
        assert s_ours[0][key].device == s_theirs[0][key].device
        torch.testing.assert_close(s_ours[0][key], s_theirs[0][key])


def test_param_added_later_gets_state_on_first_step():
    compare_with_torch(
        Adagrad, {"lr": 0.1}, groups=[{}, {"lr_decay": 0.2}], steps=STEPS
    ).assert_ok()
    p, q = torch.randn(3, requires_grad=True), torch.randn(2, requires_grad=True)
    opt = Adagrad([p])
    opt.add_param_group({"params": [q]})
    assert q not in opt.state
    p.grad, q.grad = torch.ones(3), torch.full((2,), 2.0)
    opt.step()
    torch.testing.assert_close(opt.state[q]["sum"], torch.full((2,), 4.0))


def test_state_layout():
    assert_same_state_layout(Adagrad, {})
    assert_same_state_layout(Adagrad, {"fused": True})
    assert_same_state_layout(Adagrad, {}, dtype=torch.float64)


@pytest.mark.parametrize(
    "options", [{"lr_decay": 0.1}, {"fused": True, "initial_accumulator_value": 0.1}]
)
def test_state_dict_round_trip(options):
    assert_state_dict_round_trips(Adagrad, options)


def test_state_dict_round_trip_complex():
    assert_state_dict_round_trips(Adagrad, {"foreach": True}, dtype=torch.complex64)


# ---------------------------------------------------------------- 稀疏梯度
EMBED_ROWS = [torch.tensor([1, 3, 3, 7]), torch.tensor([0, 1, 9]), torch.tensor([2, 2, 5])]


def _embedding_params():
    gen = torch.Generator().manual_seed(1)
    return [
        torch.randn(10, 3, generator=gen).requires_grad_(True),
        torch.randn(4, generator=gen).requires_grad_(True),
    ]


def _embedding_loss(params):
    """像 nn.Embedding(sparse=True) 一样取行：梯度是稀疏的，并且有重复下标。"""
    table, dense = params
    rows = EMBED_ROWS[int(table.detach().abs().sum() * 1e3) % len(EMBED_ROWS)]
    picked = F.embedding(rows, table, sparse=True)
    return ((picked - 0.3) ** 2).sum() + 0.1 * torch.sin(3 * picked).sum() + (dense**2).sum()


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"maximize": True, "lr_decay": 0.2},
        {"initial_accumulator_value": 0.1, "foreach": True},
        {"maximize": True, "lr_decay": 0.2, "initial_accumulator_value": 0.1, "foreach": True},
    ],
    ids=str,
)
def test_sparse_gradients_match_torch(options):
    report = compare_with_torch(
        Adagrad,
        dict(lr=0.1, **options),
        params=_embedding_params,
        loss_fn=_embedding_loss,
        steps=STEPS,
    )
    report.assert_ok()


def test_sparse_update_touches_only_seen_rows():
    table = torch.randn(5, 2, requires_grad=True)
    before = table.detach().clone()
    opt = Adagrad([table], lr=0.5)
    F.embedding(torch.tensor([1, 3]), table, sparse=True).sum().backward()
    assert table.grad.is_sparse
    opt.step()
    moved = (table.detach() != before).any(dim=1)
    assert moved.tolist() == [False, True, False, True, False]


@pytest.mark.parametrize("options", [{"weight_decay": 0.1}, {"fused": True}], ids=str)
def test_sparse_gradient_errors(options):
    sparse = torch.sparse_coo_tensor([[0, 2, 0]], torch.randn(3, 2), (4, 2))
    assert_same_error(Adagrad, options, grad=sparse, shape=(4, 2))


# ---------------------------------------------------------------- 错误输入与其他
BAD_OPTIONS = [
    {"lr": -1.0},
    {"lr": torch.tensor([0.1, 0.2])},
    {"lr": float("nan")},
    {"lr_decay": -0.5},
    {"weight_decay": -1.0},
    {"initial_accumulator_value": -1.0},
    {"eps": -1e-3},
    {"fused": True, "differentiable": True},
    {"fused": True, "foreach": True},
    {"foreach": True, "differentiable": True},
    {"capturable": True},
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=str)
def test_bad_options_raise_like_torch(options):
    assert_same_error(Adagrad, options)


def test_fused_rejects_complex():
    assert_same_error(Adagrad, {"fused": True}, dtype=torch.complex64)


@pytest.mark.parametrize(
    "case", optim_db_error_cases(Adagrad), ids=lambda c: c.optimizer_error_input.desc
)
def test_optim_db_error_inputs(case):
    assert_optim_db_error(Adagrad, case)


@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.1, "lr_decay": 0.2}], ids=str)
def test_differentiable_step_matches_torch(options):
    assert_same_differentiable_grads(Adagrad, options)


def test_share_memory():
    p = torch.randn(3, requires_grad=True)
    opt = Adagrad([p])
    opt.share_memory()
    assert opt.state[p]["sum"].is_shared()


@CUDA
@pytest.mark.parametrize("impl", [{"foreach": False}, {"foreach": True}, {"fused": True}], ids=str)
def test_cuda_matches_torch(impl):
    compare_with_torch(
        Adagrad, dict(lr=0.1, weight_decay=0.1, lr_decay=0.1, **impl), steps=STEPS, device="cuda"
    ).assert_ok()
