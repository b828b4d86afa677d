"""state_dict 在 optlab 与 torch.optim 之间双向互通：

训练 10 步 → state_dict → torch.save / torch.load(weights_only=True) → 载入全新的（对方或自己的）优化器
→ 再走 10 步，轨迹必须与不中断的 20 步完全一致；另外检查键、组键顺序、值的类型与 dtype 都与 torch 相同。
"""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
import torch.optim as toptim
from torch.testing._internal.common_optimizers import optim_db

import optlab

INFOS = [info for info in optim_db if hasattr(optlab, info.optim_cls.__name__)]
HALF = 10


def _simple(value):
    return not isinstance(value, torch.Tensor) and not (
        isinstance(value, tuple) and any(isinstance(v, torch.Tensor) for v in value)
    )


def _options(info):
    """每个算法取两组选项：默认，以及 optim_db 里最后一个不带张量/capturable 的配置（通常状态最多）。"""
    inputs = info.optim_inputs_func(device="cpu", dtype=torch.float32)
    plain = [
        oi.kwargs
        for oi in inputs
        if not oi.kwargs.get("capturable") and all(_simple(v) for v in oi.kwargs.values())
    ]
    chosen = [dict(plain[0])] if plain else [{}]
    if len(plain) > 1:
        chosen.append(
            dict(plain[-1], foreach=True) if "foreach" in info.supported_impls else plain[-1]
        )
    return chosen


CASES = [
    pytest.param(info, opts, id=f"{info.optim_cls.__name__}-{i}")
    for info in INFOS
    for i, opts in enumerate(_options(info))
]


def _params(info):
    gen = torch.Generator().manual_seed(0)
    if info.only_supports_sparse_grads:
        return [torch.randn(12, 3, generator=gen).requires_grad_()]
    second = (5, 2) if info.optim_cls.__name__ == "Muon" else (5,)  # Muon 只接受二维参数
    return [
        torch.randn(4, 3, generator=gen).requires_grad_(),
        torch.randn(second, generator=gen).requires_grad_(),
    ]


def _loss(info, params, step):
    if info.only_supports_sparse_grads:
        idx = torch.tensor([step % 12, 2, 7])
        return ((F.embedding(idx, params[0], sparse=True) - 0.3) ** 2).sum()
    return sum(((p - 0.3) ** 2).sum() + 0.1 * torch.sin(3 * p).sum() for p in params)


def _build(lib, info, params, options):
    name = info.optim_cls.__name__
    groups = params
    if len(params) > 1 and info.supports_param_groups:  # LBFGS 只允许一个参数组
        groups = [{"params": params[:1]}, {"params": params[1:], "lr": 0.02}]
    return getattr(lib, name)(groups, **options)


def _train(opt, params, info, start, stop):
    for step in range(start, stop):

        def closure(step=step):
            opt.zero_grad()
            loss = _loss(info, params, step)
            loss.backward()
            return loss

        opt.step(closure)


def _round_trip(state_dict):
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _continue_from(src_lib, dst_lib, info, options):
    """src 训练 HALF 步 → 存取 → dst 接着训练 HALF 步；返回最终参数与 state_dict。"""
    params = _params(info)
    src = _build(src_lib, info, params, options)
    _train(src, params, info, 0, HALF)
    saved = _round_trip(src.state_dict())
    resumed_params = [p.detach().clone().requires_grad_() for p in params]
    dst = _build(dst_lib, info, resumed_params, options)
    dst.load_state_dict(saved)
    _train(dst, resumed_params, info, HALF, 2 * HALF)
    return resumed_params, dst.state_dict()


def _uninterrupted(lib, info, options):
    params = _params(info)
    opt = _build(lib, info, params, options)
    _train(opt, params, info, 0, 2 * HALF)
    return params, opt.state_dict()


@pytest.mark.parametrize("info, options", CASES)
@pytest.mark.parametrize(
    "src, dst",
    [(optlab, toptim), (toptim, optlab), (optlab, optlab)],
    ids=["ol2t", "t2ol", "ol2ol"],
)
def test_resume_across_libraries(info, options, src, dst):
    expected_params, expected_state = _uninterrupted(dst, info, options)
    params, state = _continue_from(src, dst, info, options)
    torch.testing.assert_close(params, expected_params)
    torch.testing.assert_close(state["state"], expected_state["state"])
    assert state["param_groups"] == expected_state["param_groups"]


def _layout(value):
    """state_dict 的“形状”：键、顺序、类型、dtype、张量形状，不含数值。"""
    if isinstance(value, torch.Tensor):
        return ("tensor", value.dtype, tuple(value.shape), value.device.type, value.is_sparse)
    if isinstance(value, dict):
        return ("dict", [(k, _layout(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_layout(v) for v in value])
    return type(value).__name__


@pytest.mark.parametrize("info, options", CASES)
def test_state_dict_layout_matches_torch(info, options):
    ours = _uninterrupted(optlab, info, options)[1]
    theirs = _uninterrupted(toptim, info, options)[1]
    assert _layout(ours) == _layout(theirs)
    assert [list(g) for g in ours["param_groups"]] == [list(g) for g in theirs["param_groups"]]


@pytest.mark.parametrize("info, options", CASES)
def test_state_dict_is_deterministic(info, options):
    params = _params(info)
    opt = _build(optlab, info, params, options)
    _train(opt, params, info, 0, 3)
    first, second = opt.state_dict(), opt.state_dict()
    torch.testing.assert_close(first["state"], second["state"])
    assert first["param_groups"] == second["param_groups"]
    assert _layout(first) == _layout(second)
