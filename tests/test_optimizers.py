"""所有优化器的通用测试：由 ``optim_registry.REGISTRY`` 生成，每条检查都让 optlab 与 torch.optim
跑同一段代码再比较（以 torch 的实际行为为准）。

签名与默认值 · 类文档字符串 · 选项网格逐步对照（每种实现、fp32/fp64/复数）· 张量超参数与边界值 ·
稀疏梯度 · 状态布局 · state_dict 双向互通 · capturable · differentiable · 错误输入 ·
默认 dtype 为 float64 · 中途冻结参数 · CUDA。算法独有的性质在 ``tests/test_<算法>.py``。
"""

from __future__ import annotations

import copy
import inspect
import sys
from pathlib import Path

import pytest
import torch
from optim_registry import REGISTRY, Bad
from optim_test_support import (
    CUDA,
    IMPL_OPTIONS,
    SKIP_GRAD_STEPS,
    assert_differentiable_gradcheck,
    capturable_allowed_on_cpu,
    compare,
    differentiable_grads,
    dtype_id,
    loop_twin,
    ours,
    outcome,
    problem,
    split_groups,
    state_layout,
    through_disk,
    torch_twin,
    train,
    with_dtype,
)

import optlab
import optlab._fused
from optlab.testing import compare_with_torch


def cases(make):
    """把 ``make(spec)`` 给出的 (id, 参数…) 展开成 pytest 用例，id 以算法名开头。"""
    return [
        pytest.param(spec, *args, id=f"{spec.name}-{name}" if name else spec.name)
        for spec in REGISTRY
        for name, *args in make(spec)
    ]


def impls(spec):
    """网格要走的实现；没有实现开关的算法只有一种。"""
    return spec.impls or ("",)


def impl_options(impl):
    return IMPL_OPTIONS.get(impl, {})


def combos(spec, dtype=torch.float32):
    """网格 × 实现（fused 不收复数参数：这一点由 test_bad_inputs 检查）。"""
    return [
        dict(c, **impl_options(impl))
        for impl in impls(spec)
        if not (impl == "fused" and dtype.is_complex)
        for c in spec.grid
    ]


# ---------------------------------------------------------------- 登记表本身
def test_registry_covers_every_optimizer():
    exported = {
        name
        for name in dir(torch.optim)
        if isinstance(getattr(torch.optim, name), type)
        and issubclass(getattr(torch.optim, name), torch.optim.Optimizer)
        and name != "Optimizer"
    }
    assert {spec.name for spec in REGISTRY} == exported
    for spec in REGISTRY:
        assert issubclass(ours(spec), optlab.Optimizer)
        # 每个优化器有自己的测试文件，放它独有的性质：tests/test_<模块名>.py
        module = ours(spec).__module__.removeprefix("optlab.")
        assert (Path(__file__).parent / f"test_{module}.py").is_file(), f"缺少 test_{module}.py"
        assert len(spec.grid) == len({repr(c) for c in spec.grid}), f"{spec.name} 的网格有重复组合"


# ---------------------------------------------------------------- 签名、默认值与文档
@pytest.mark.parametrize("spec", REGISTRY, ids=repr)
def test_signature_and_defaults(spec):
    """参数名、种类（位置/仅关键字）、默认值与 torch 相同；用网格里每个组合构造后，
    defaults 与 param_groups（连同键的顺序）也相同。"""
    sig = [
        (p.name, p.kind, p.default)
        for p in inspect.signature(ours(spec).__init__).parameters.values()
    ]
    twin = inspect.signature(torch_twin(ours(spec)).__init__).parameters.values()
    assert sig == [(p.name, p.kind, p.default) for p in twin]
    for options in [{}, *combos(spec)]:
        prob = problem(spec)
        a, b = (
            ours(spec)(prob.params(), **options),
            torch_twin(ours(spec))(prob.params(), **options),
        )
        assert list(a.defaults.items()) == list(b.defaults.items()), options
        assert a.state_dict()["param_groups"] == b.state_dict()["param_groups"], options


@pytest.mark.parametrize("spec", REGISTRY, ids=repr)
def test_class_docstring_carries_box_and_args_in_signature_order(spec):
    """``optlab.Adam?`` 显示算法框、中文说明与按 torch 顺序排列的 Args；模块文档字符串不再重复算法框。"""
    cls = ours(spec)
    doc = cls.__doc__
    assert doc and ".. math::" in doc and "\\begin{aligned}" in doc
    lines = doc.split("Args:")[1].strip().splitlines()
    expected = list(inspect.signature(torch_twin(cls).__init__).parameters)[1:]
    assert [line.split(":")[0].strip() for line in lines] == expected
    assert all(line.split(":", 1)[1].strip() for line in lines)
    assert ".. math::" not in (sys.modules[cls.__module__].__doc__ or "")


# ---------------------------------------------------------------- 逐步对照
def _grid_runs(spec):
    """每次对照把 spec.pack() 个组合放进各参数的参数组（第 i 组 lr·(i+1)/2）；每个组合都出现。"""
    k = spec.pack()
    for impl in impls(spec):
        for start in range(0, len(spec.grid), k):
            for dtype in spec.dtypes:
                if impl == "fused" and dtype.is_complex:
                    continue
                yield (
                    f"{impl or 'default'}-{start // k}-{dtype_id(dtype)}",
                    impl,
                    spec.grid[start : start + k],
                    dtype,
                )


@pytest.mark.parametrize("spec, impl, group_options, dtype", cases(_grid_runs))
def test_option_grid_matches_torch(spec, impl, group_options, dtype):
    options = {"lr": spec.lr, **impl_options(impl)}
    if spec.pack() == 1:
        (only,) = group_options
        compare(spec, {**options, **only}, dtype=dtype, skip_grad_steps=SKIP_GRAD_STEPS)
        return
    groups = [dict(c, lr=spec.lr * (i + 1) / 2) for i, c in enumerate(group_options)]
    compare(spec, options, dtype=dtype, groups=groups, skip_grad_steps=SKIP_GRAD_STEPS)


@pytest.mark.parametrize("spec", REGISTRY, ids=repr)
def test_grid_runs_cover_every_combination(spec):
    covered = [(impl, c) for _, impl, chunk, _ in _grid_runs(spec) for c in chunk]
    assert all((impl, c) in covered for impl in impls(spec) for c in spec.grid)


def _extra_runs(spec):
    for i, options in enumerate(spec.extra_runs):
        for dtype in spec.extra_dtypes:
            yield f"{i}-{dtype_id(dtype)}", options, dtype


@pytest.mark.parametrize("spec, options, dtype", cases(_extra_runs))
def test_extra_options_match_torch(spec, options, dtype):
    """网格之外：张量超参数、边界值等。"""
    compare(spec, with_dtype(options, dtype), dtype=dtype)


@pytest.mark.parametrize(
    "spec, options", cases(lambda spec: ((str(i), o) for i, o in enumerate(spec.sparse_runs)))
)
def test_sparse_gradients_match_torch(spec, options):
    """兼收稀疏梯度的算法：embedding(sparse=True) 的梯度（有重复行）与稠密参数混在一起。"""
    compare(spec, dict(options, lr=spec.lr), prob=problem(spec, sparse=True))


@pytest.mark.parametrize("spec", [s for s in REGISTRY if s.grads == "sparse"], ids=repr)
def test_sparse_only_rejects_dense_gradients_and_keeps_no_state(spec):
    results = []
    for cls in (ours(spec), torch_twin(ours(spec))):
        p = torch.randn(3, 2, requires_grad=True)
        opt = cls([p])
        p.grad = torch.ones_like(p)
        with pytest.raises(RuntimeError) as err:
            opt.step()
        results.append((err.type, len(opt.state)))
    assert results[0] == results[1] == (RuntimeError, 0)


@pytest.mark.parametrize("spec", [s for s in REGISTRY if s.grads == "dense"], ids=repr)
def test_dense_only_rejects_sparse_gradients_like_torch(spec):
    shape = spec.shapes[0] if len(spec.shapes[0]) == 2 else (4, 2)
    for impl in impls(spec):
        bad = Bad(impl_options(impl), RuntimeError, on="step", shape=shape, sparse_grad=True)
        message = _assert_bad_input(spec, bad)
        assert "sparse" in message.lower(), message


# ---------------------------------------------------------------- 状态
def _layout_cases(spec):
    for dtype in spec.dtypes:
        yield dtype_id(dtype), dtype


@pytest.mark.parametrize("spec, dtype", cases(_layout_cases))
def test_state_layout_matches_torch(spec, dtype):
    """走两步之后，状态的键（连同顺序）、类型、dtype、形状、设备、requires_grad、数值，以及各参数组
    的键，都与 torch 相同：fp32 上查网格里的每个组合，其余 dtype 上查每种实现的默认选项。"""
    prob = problem(spec, dtype)
    every = combos(spec, dtype) if dtype == torch.float32 else None
    defaults = [impl_options(i) for i in impls(spec) if not (i == "fused" and dtype.is_complex)]
    for options in every or defaults:
        opts = []
        for cls in (ours(spec), torch_twin(ours(spec))):
            params = prob.params()
            opt = cls(split_groups(spec, params), **options)
            train(opt, params, prob, range(2))
            opts.append(opt)
        assert state_layout(opts[0]) == state_layout(opts[1]), options
        torch.testing.assert_close(opts[0].state_dict()["state"], opts[1].state_dict()["state"])


def _state_dict_cases(spec):
    last = len(spec.state_dict_runs) - 1
    for i, options in enumerate(spec.state_dict_runs):
        for dtype in [torch.float32] + [spec.dtypes[-1]] * (i == last):
            yield f"{i}-{dtype_id(dtype)}", options, dtype


@pytest.mark.parametrize("spec, options, dtype", cases(_state_dict_cases))
def test_state_dict_round_trips_both_ways(spec, options, dtype):
    """训练 half 步 → state_dict 经 torch.save/torch.load 往返 → 装进全新的对方（或自己的）优化器 →
    再走 half 步：参数与不中断的 torch 一致；载入后与走完后的整棵状态树、布局都与 torch→torch 一致
    （载入时状态会转成参数的 dtype，step 除外，所以参照是同样载入过一次的 torch）。"""
    half = max(3, spec.steps // 3)
    prob = problem(spec, dtype)
    cls, twin = ours(spec), torch_twin(ours(spec))

    def resume(first, second):
        params = prob.params()
        src = first(split_groups(spec, params), **options)
        train(src, params, prob, range(half))
        saved = src.state_dict()
        torch.testing.assert_close(src.state_dict()["state"], saved["state"])  # 再取一次也一样
        moved = [p.detach().clone().requires_grad_() for p in params]
        dst = second(split_groups(spec, moved, lr=1e-3), **options)  # 组的 lr 由 state_dict 覆盖
        dst.load_state_dict(through_disk(saved))
        assert dst.state_dict()["param_groups"] == saved["param_groups"]
        loaded = (state_layout(dst), copy.deepcopy(dst.state_dict()["state"]))
        train(dst, moved, prob, range(half, 2 * half))
        return moved, dst, loaded

    ref_params = prob.params()
    ref = twin(split_groups(spec, ref_params), **options)
    train(ref, ref_params, prob, range(2 * half))
    _, ref_dst, ref_loaded = resume(twin, twin)

    for first, second in ((cls, twin), (twin, cls), (cls, cls)):
        moved, dst, loaded = resume(first, second)
        assert loaded[0] == ref_loaded[0]
        torch.testing.assert_close(loaded[1], ref_loaded[1])
        torch.testing.assert_close(moved, ref_params)
        assert state_layout(dst) == state_layout(ref_dst)
        torch.testing.assert_close(dst.state_dict()["state"], ref_dst.state_dict()["state"])


# ---------------------------------------------------------------- capturable
def _capturable_cases(spec):
    for i, options in enumerate(spec.capturable_runs):
        for impl in ("loop", "foreach"):
            for dtype in (torch.float32, torch.float64):
                yield f"{i}-{impl}-{dtype_id(dtype)}", options, impl, dtype


@pytest.mark.parametrize("spec, options, impl, dtype", cases(_capturable_cases))
def test_capturable_math_matches_torch(spec, options, impl, dtype):
    """capturable=True 的张量化路径（在 CPU 上放行设备检查）与 torch 的 capturable 轨迹一致。

    默认拿 torch 的 for-loop 作参照：torch 的 foreach capturable 路径把若干系数按 float32
    的 step 精度先乘在一起，float64 参数下与它自己的 for-loop 就差 ~1e-7。
    """
    reference = loop_twin(ours(spec)) if spec.capturable_reference == "loop" else None
    with capturable_allowed_on_cpu():
        compare(
            spec,
            {"lr": spec.lr, **with_dtype(options, dtype), "capturable": True, **impl_options(impl)},
            dtype=dtype,
            torch_optimizer=reference,
            skip_grad_steps=(3,),
        )


@pytest.mark.parametrize(
    "spec, impl",
    cases(lambda spec: ((impl, impl) for impl in ("loop", "foreach") if spec.capturable_runs)),
)
def test_capturable_on_cpu_asserts_like_torch(spec, impl):
    for cls in (ours(spec), torch_twin(ours(spec))):
        p = torch.randn(3, requires_grad=True)
        p.grad = torch.ones(3)
        opt = cls([p], capturable=True, **impl_options(impl))
        with pytest.raises(AssertionError, match="capturable=True"):
            opt.step()


# ---------------------------------------------------------------- differentiable
@pytest.mark.parametrize(
    "spec, options",
    cases(lambda spec: ((str(i), o) for i, o in enumerate(spec.differentiable_runs))),
)
def test_differentiable_step_matches_torch(spec, options):
    """对初始参数、每步梯度与张量 lr 求导，结果与 torch 相同；再用有限差分检验我们连走几步的导数。"""
    steps, lr_tensor = spec.differentiable_steps, spec.differentiable_lr
    ours_grads = differentiable_grads(ours(spec), options, steps, lr_tensor)
    theirs = differentiable_grads(torch_twin(ours(spec)), options, steps, lr_tensor)
    assert all(g is not None for g in ours_grads)
    torch.testing.assert_close(ours_grads, theirs)
    assert ours_grads[0].abs().sum() > 0
    if lr_tensor:
        assert ours_grads[-1].abs() > 0
    if spec.gradcheck_steps:
        assert_differentiable_gradcheck(ours(spec), options, spec.gradcheck_steps)


# ---------------------------------------------------------------- 错误输入
def _assert_bad_input(spec, bad):
    def attempt(cls):
        def construct():
            p = torch.randn(bad.shape if bad.shape is not None else spec.shapes[0], dtype=bad.dtype)
            p.requires_grad_()
            params = [
                p.clone() if bad.options.get("differentiable") else p
            ]  # differentiable 要非叶子
            return cls(params, **bad.options), params[0]

        def step(built):
            opt, p = built
            p.grad = torch.randn_like(p).to_sparse() if bad.sparse_grad else torch.randn_like(p)
            opt.step((lambda: torch.tensor(0.0)) if spec.closure else None)

        return outcome(construct, step)

    theirs, mine = attempt(torch_twin(ours(spec))), attempt(ours(spec))
    assert theirs[:2] == (bad.on, bad.error), f"torch 的行为与登记表不符：{theirs}"
    assert mine[:2] == theirs[:2], f"optlab {mine}，torch {theirs}"
    return mine[2]


@pytest.mark.parametrize(
    "spec, bad",
    cases(lambda spec: ((str(i), b) for i, b in enumerate(spec.bad))),
)
def test_bad_inputs_raise_like_torch(spec, bad):
    """同一个错误输入，两边在同一阶段（构造或 step）抛出登记表里写的那种异常。"""
    _assert_bad_input(spec, bad)


class _WouldCompile(Exception):
    """编译的桩：走到这里说明错误输入没有在编译之前被拒绝。"""


def _would_compile(*args, **kwargs):
    raise _WouldCompile


@pytest.mark.parametrize(
    "spec, bad",
    [
        pytest.param(spec, bad, id=f"{spec.name}-{i}")
        for spec in REGISTRY
        for i, bad in enumerate(spec.bad)
        if bad.options.get("fused")
    ],
)
def test_fused_bad_inputs_rejected_before_compiling(spec, bad, monkeypatch):
    """conftest 关掉了 fused 内核的编译（其余测试走 foreach 回退），而用户默认走编译好的内核：
    这里打开编译、把编译换成一个报错的桩，错误输入必须在编译之前就以 torch 的异常被拒绝。"""
    monkeypatch.setattr(optlab._fused, "COMPILE", True)
    monkeypatch.setattr(optlab._fused, "_unavailable", None)
    monkeypatch.setattr(optlab._fused, "_no_compiler_reason", lambda: None)
    monkeypatch.setattr(optlab._fused, "compiled_kernel", _would_compile)
    _assert_bad_input(spec, bad)


# ---------------------------------------------------------------- 其他情形
@pytest.mark.parametrize("spec", REGISTRY, ids=repr)
def test_default_dtype_float64(spec):
    """默认 dtype 为 float64 时，标量状态（step 等）也跟着变成 float64。"""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for impl in impls(spec):
            options = {"lr": spec.lr, **impl_options(impl)}
            compare(spec, options, dtype=torch.float64, steps=min(spec.steps, 10))
            prob, opts = problem(spec, torch.float64), []
            for cls in (ours(spec), torch_twin(ours(spec))):
                params = prob.params()
                opts.append(cls(params, **options))
                train(opts[-1], params, prob, range(1))
            assert state_layout(opts[0]) == state_layout(opts[1])
    finally:
        torch.set_default_dtype(old)


@pytest.mark.parametrize("spec", [s for s in REGISTRY if s.grads != "sparse"], ids=repr)
def test_param_frozen_then_unfrozen_mid_run(spec):
    """第二个参数在第 8–17 步冻结（requires_grad=False，没有梯度）：两边同样跳过它、之后同样接着更新。"""
    results = []
    for cls in (ours(spec), torch_twin(ours(spec))):
        params = problem(spec).params()
        opt = cls(params, lr=spec.lr)
        for step in range(min(spec.steps, 24)):
            params[1].requires_grad_(not 8 <= step < 18)

            def closure(opt=opt, params=params):
                opt.zero_grad()
                loss = sum(((p - 0.3) ** 2).sum() for p in params if p.requires_grad)
                loss.backward()
                return loss

            if spec.closure:
                opt.step(closure)
            else:
                closure()
                opt.step()
            if step == 12:
                assert params[1].grad is None
        results.append(([p.detach().clone() for p in params], opt.state_dict()["state"]))
    torch.testing.assert_close(results[0], results[1])


def _cuda_cases(spec):
    for i, options in enumerate(spec.cuda_runs):
        for dtype in (torch.float32, torch.float64):
            yield f"{i}-{dtype_id(dtype)}", options, dtype


@CUDA
@pytest.mark.parametrize("spec, options, dtype", cases(_cuda_cases))
def test_cuda_matches_torch(spec, options, dtype):
    """在 CUDA 上对照：默认 foreach、fused、capturable 的真实张量路径、设备上的张量 lr。"""
    compare_with_torch(
        ours(spec), options, steps=spec.steps, device="cuda", dtype=dtype
    ).assert_ok()
