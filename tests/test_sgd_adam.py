"""SGD / Adam / AdamW：完整选项网格与 torch.optim 逐步对照，以及特殊输入（稀疏梯度、冻结参数、张量 lr 等）。"""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
import torch.nn.functional as F
import torch.optim as toptim
from optim_test_support import CUDA, DTYPE_IDS, DTYPES, STEPS

import optlab
from optlab.testing import compare_with_torch, make_params


def _grid(**axes):
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*axes.values())]


def _sgd_grid():
    out = []
    for opts in _grid(
        momentum=[0, 0.9],
        dampening=[0, 0.3],
        nesterov=[False, True],
        weight_decay=[0, 0.1],
        maximize=[False, True],
        foreach=[False, True],
    ):
        if opts["nesterov"] and (opts["momentum"] == 0 or opts["dampening"] != 0):
            continue  # torch 拒绝
        if opts["momentum"] == 0 and opts["dampening"] != 0:
            continue  # 没有动量时 dampening 不起作用，与 dampening=0 重复
        out.append(opts)
    return out


def _adam_grid():
    return _grid(
        amsgrad=[False, True],
        weight_decay=[0, 0.1],
        maximize=[False, True],
        foreach=[False, True],
        decoupled_weight_decay=[False, True],
    )


def _adamw_grid():
    return _grid(
        amsgrad=[False, True], weight_decay=[0, 0.1], maximize=[False, True], foreach=[False, True]
    )


def _paired(grid):
    """两两配成两个参数组：每个组合都出现一次，同时检验“两组不同选项”。"""
    half = (len(grid) + 1) // 2
    return [(grid[i], grid[(i + half) % len(grid)]) for i in range(half)]


def _ids(pairs):
    return [f"{a}|{b}".replace(" ", "") for a, b in pairs]


def _run_pair(cls, pair, dtype, lr):
    group_a, group_b = pair
    report = compare_with_torch(
        cls,
        {"lr": lr},
        groups=[dict(group_a), dict(group_b, lr=lr / 2)],
        steps=STEPS,
        dtype=dtype,
        skip_grad_steps=(3, 4, 11),
    )
    report.assert_ok()


SGD_PAIRS, ADAM_PAIRS, ADAMW_PAIRS = (
    _paired(_sgd_grid()),
    _paired(_adam_grid()),
    _paired(_adamw_grid()),
)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pair", SGD_PAIRS, ids=_ids(SGD_PAIRS))
def test_sgd_grid(pair, dtype):
    _run_pair(optlab.SGD, pair, dtype, lr=0.05)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pair", ADAM_PAIRS, ids=_ids(ADAM_PAIRS))
def test_adam_grid(pair, dtype):
    _run_pair(optlab.Adam, pair, dtype, lr=0.05)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("pair", ADAMW_PAIRS, ids=_ids(ADAMW_PAIRS))
def test_adamw_grid(pair, dtype):
    _run_pair(optlab.AdamW, pair, dtype, lr=0.05)


def test_grids_cover_every_combination():
    for grid, pairs in ((_sgd_grid(), SGD_PAIRS), (_adam_grid(), ADAM_PAIRS)):
        covered = [a for a, _ in pairs] + [b for _, b in pairs]
        assert all(opts in covered for opts in grid)
    assert len(_sgd_grid()) == 32 and len(_adam_grid()) == 32


# ---------------------------------------------------------------- fused（CPU 内核）
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
@pytest.mark.parametrize(
    "cls, options",
    [
        ("SGD", {"lr": 0.05}),
        ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1, "maximize": True}),
        ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
        ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
        ("Adam", {"lr": 0.05}),
        ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
        ("Adam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
        ("Adam", {"lr": torch.tensor(0.05), "capturable": True}),
        ("AdamW", {"lr": 0.05, "amsgrad": True}),
        ("AdamW", {"lr": torch.tensor(0.05), "betas": (torch.tensor(0.8), torch.tensor(0.9))}),
    ],
)
def test_fused_cpu_matches_torch_fused_kernel(cls, options, dtype):
    report = compare_with_torch(
        getattr(optlab, cls), dict(options, fused=True), steps=STEPS, dtype=dtype
    )
    report.assert_ok()
    ours = getattr(optlab, cls)(make_params(), **dict(options, fused=True))
    for p in ours.param_groups[0]["params"]:
        p.grad = torch.ones_like(p)
    ours.step()
    for state in ours.state.values():
        if "step" in state:  # fused 的 step 与参数同设备、float32
            assert state["step"].dtype == torch.float32


# ---------------------------------------------------------------- 张量超参数
@pytest.mark.parametrize(
    "cls, options",
    [
        ("SGD", {"lr": torch.tensor(0.05)}),
        ("SGD", {"lr": torch.tensor(0.05), "momentum": 0.9, "foreach": True}),
        ("SGD", {"lr": 0.05, "weight_decay": torch.tensor(0.1), "momentum": 0.5}),
        ("SGD", {"lr": 0.05, "weight_decay": torch.tensor(0.1), "foreach": True}),
        ("Adam", {"lr": torch.tensor(0.05), "amsgrad": True}),
        ("Adam", {"lr": torch.tensor(0.05), "betas": (torch.tensor(0.8), torch.tensor(0.9))}),
        ("Adam", {"lr": 0.05, "weight_decay": torch.tensor(0.1)}),
        ("AdamW", {"lr": torch.tensor(0.05), "weight_decay": 0.2}),
        ("AdamW", {"lr": 0.05, "weight_decay": torch.tensor(0.1), "foreach": True}),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_tensor_hyperparameters(cls, options, dtype):
    compare_with_torch(getattr(optlab, cls), options, steps=STEPS, dtype=dtype).assert_ok()


# ---------------------------------------------------------------- capturable 在 CPU 上
@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("foreach", [False, True])
def test_capturable_on_cpu_asserts_like_torch(cls, foreach):
    for lib in (optlab, toptim):
        p = torch.randn(3, requires_grad=True)
        p.grad = torch.ones(3)
        opt = getattr(lib, cls)([p], capturable=True, foreach=foreach)
        with pytest.raises(AssertionError, match="capturable=True"):
            opt.step()


# ---------------------------------------------------------------- 稀疏梯度（SGD）
def _embedding_params():
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randn(10, 3, generator=gen).requires_grad_(),
        torch.randn(3, generator=gen).requires_grad_(),
    ]


def _embedding_loss():
    calls = [0]

    def loss(params):
        # 两边交替调用：第 2i、2i+1 次调用属于同一步，用同一批下标
        step = calls[0] // 2
        calls[0] += 1
        idx = torch.tensor([step % 10, 3, 7])
        rows = F.embedding(idx, params[0], sparse=True)
        return ((rows - 0.5) ** 2).sum() + (params[1] ** 2).sum()

    return loss


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}])
@pytest.mark.parametrize("foreach", [False, True])
def test_sgd_sparse_gradients(options, foreach):
    report = compare_with_torch(
        optlab.SGD,
        dict(options, lr=0.1, foreach=foreach),
        params=_embedding_params,
        loss_fn=_embedding_loss(),
        steps=STEPS,
    )
    report.assert_ok()


def test_sparse_gradient_errors_match_torch():
    def run(lib, cls, **kw):
        p = torch.randn(4, 2, requires_grad=True)
        p.grad = torch.sparse_coo_tensor([[0, 2]], torch.ones(2, 2), (4, 2))
        getattr(lib, cls)([p], **kw).step()

    for cls, kw in [
        ("Adam", {}),
        ("AdamW", {"foreach": True}),
        ("SGD", {"lr": 0.1, "fused": True}),
        ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ]:
        for lib in (optlab, toptim):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with pytest.raises(RuntimeError):
                    run(lib, cls, **kw)


# ---------------------------------------------------------------- 冻结 / 解冻参数
@pytest.mark.parametrize(
    "cls, options",
    [
        ("SGD", {"lr": 0.05, "momentum": 0.9}),
        ("Adam", {"lr": 0.05, "amsgrad": True}),
        ("AdamW", {"lr": 0.05, "foreach": True}),
    ],
)
def test_param_frozen_then_unfrozen_mid_run(cls, options):
    trajectories = []
    for lib in (optlab, toptim):
        params = make_params(seed=3)
        opt = getattr(lib, cls)(params, **options)
        for step in range(STEPS):
            params[1].requires_grad_(not 8 <= step < 18)
            opt.zero_grad()
            loss = sum(((p - 0.3) ** 2).sum() for p in params if p.requires_grad)
            loss.backward()
            opt.step()
            if step == 12:
                assert params[1].grad is None
        trajectories.append(([p.detach().clone() for p in params], opt.state_dict()["state"]))
    torch.testing.assert_close(trajectories[0][0], trajectories[1][0])
    torch.testing.assert_close(trajectories[0][1], trajectories[1][1])


# ---------------------------------------------------------------- differentiable
@pytest.mark.parametrize(
    "cls, options",
    [
        ("SGD", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
        ("Adam", {"weight_decay": 0.1}),
        ("AdamW", {"maximize": True}),
    ],
)
def test_differentiable_step_lets_gradients_flow(cls, options):
    """对 lr 张量与参数的更新前取值求导，结果与 torch 相同。"""
    grads = []
    for lib in (optlab, toptim):
        gen = torch.Generator().manual_seed(0)
        start = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
        lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
        param = start.clone()  # 非叶子：differentiable=True 时允许
        opt = getattr(lib, cls)([param], lr=lr, differentiable=True, **options)
        for _ in range(3):
            param.grad = (param.detach() - 0.5) * 2
            opt.step()
        (param**2).sum().backward()
        grads.append((start.grad.clone(), lr.grad.clone()))
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[0][1].abs() > 0


# ---------------------------------------------------------------- 签名与默认值
@pytest.mark.parametrize("cls", ["SGD", "Adam", "AdamW"])
def test_signature_and_defaults_match_torch(cls):
    import inspect

    def shape(c):  # 名字、种类、默认值（torch 的类型注解不比较）
        sig = inspect.signature(c.__init__)
        return [(p.name, p.kind, p.default) for p in sig.parameters.values()]

    ours, theirs = getattr(optlab, cls), getattr(toptim, cls)
    assert shape(ours) == shape(theirs)
    p = [torch.zeros(2, requires_grad=True)]
    assert list(ours(p).defaults.items()) == list(theirs(p).defaults.items())


# ---------------------------------------------------------------- CUDA
@CUDA
@pytest.mark.parametrize(
    "cls, options",
    [
        ("SGD", {"momentum": 0.9, "foreach": True}),
        ("SGD", {"momentum": 0.9, "fused": True}),
        ("Adam", {"capturable": True}),
        ("Adam", {"capturable": True, "foreach": True, "amsgrad": True}),
        ("Adam", {"lr": torch.tensor(0.01), "capturable": True, "foreach": True}),
        ("Adam", {"fused": True, "weight_decay": 0.1}),
        ("AdamW", {"capturable": True, "foreach": True}),
        ("AdamW", {"fused": True, "amsgrad": True}),
        ("AdamW", {}),
    ],
)
def test_cuda_variants(cls, options):
    compare_with_torch(getattr(optlab, cls), options, steps=STEPS, device="cuda").assert_ok()
