"""fused=True：torch.compile 生成的融合内核与 torch 的手写 fused 内核数值一致。

每个情形都要编译一次（CPU 上每次几秒），CI 里只编译几个有代表性的情形；
设置 ``OPTLAB_FUSED_ALL=1`` 跑全部（算法 × dtype）。全部情形的速度见
``python -m benchmarks.step_time --mode fused``。
"""

from __future__ import annotations

import copy
import os
import warnings

import pytest
import torch
from torch._dynamo.utils import counters

import optlab
from optlab import _fused

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}
OPTIONS = {
    "SGD": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1, "nesterov": True},
    "Adam": {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True},
    "AdamW": {"lr": 0.01},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1},
}
# CI 只编译这几个：每个算法一种 dtype，四种 dtype 各出现一次
REPRESENTATIVE = {
    ("Adam", "float32"),
    ("AdamW", "bfloat16"),
    ("SGD", "float16"),
    ("Adagrad", "float64"),
}
ALL = os.environ.get("OPTLAB_FUSED_ALL") == "1"
SHAPES = [(5, 3), (7,), (2, 3, 2, 2), (33,)]


@pytest.fixture(autouse=True)
def _compile_fused(monkeypatch):
    """conftest 为整个测试套件关掉了编译；这里的测试正是要核对编译内核。"""
    monkeypatch.setattr(_fused, "COMPILE", True)


def _run(module, name, options, dtype, device="cpu", steps=4):
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(s, generator=gen).to(device, dtype).requires_grad_() for s in SHAPES]
    grads = [
        [torch.randn(s, generator=gen).to(device, dtype) for s in SHAPES] for _ in range(steps)
    ]
    opt = getattr(module, name)(params, **options)
    for k in range(steps):
        if k == 2:  # 学习率中途改变（调度器的做法）：编译结果不应因此失效
            graphs = counters["stats"]["unique_graphs"]
            for group in opt.param_groups:
                group["lr"] *= 0.5
        for p, g in zip(params, grads[k]):
            p.grad = g.clone()
        opt.step()
    if module is optlab:
        assert counters["stats"]["unique_graphs"] == graphs, "改学习率触发了重新编译"
    return params, opt


def _reference(name, dtype, device):
    """参照实现与容差：torch 的 fused 内核，按 dtype 的默认容差。

    例外：torch 2.13 的 CPU fused SGD 对半精度、长度 ≥ 16 的张量算错（与它自己的 for-loop
    相差 0.1 量级，见 test_torch_fused_sgd_half_is_off），此时以 foreach 为准。foreach 每个中间
    结果都舍入到半精度，融合内核在 float32 里算完才舍入，两者差几个 ulp——torch 自己的 fused 与
    foreach 之间也是如此（Adam、float16 实测 4.9e-4）——所以容差放宽到半精度的几个 ulp。
    """
    if name == "SGD" and dtype in (torch.float16, torch.bfloat16) and device == "cpu":
        tol = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}[dtype]
        return {"foreach": True}, {"atol": tol, "rtol": tol}
    return {"fused": True}, {}


def _cases():
    for name in OPTIONS:
        for dtype_name in DTYPES:
            # 编译较慢：默认只生成代表性情形（每个 dtype 一个算法），OPTLAB_FUSED_ALL=1 生成全部
            if ALL or (name, dtype_name) in REPRESENTATIVE:
                yield pytest.param(name, dtype_name, id=f"{name}-{dtype_name}")


def _check_parity(name, dtype_name, device):
    dtype = DTYPES[dtype_name]
    options = OPTIONS[name]
    ours, ours_opt = _run(optlab, name, {**options, "fused": True}, dtype, device)
    reference, tol = _reference(name, dtype, device)
    theirs, theirs_opt = _run(torch.optim, name, {**options, **reference}, dtype, device)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, **tol)
    for p_ours, p_theirs in zip(ours, theirs):
        s_ours, s_theirs = ours_opt.state[p_ours], theirs_opt.state[p_theirs]
        assert s_ours.keys() == s_theirs.keys()
        for key in s_ours:
            torch.testing.assert_close(s_ours[key], s_theirs[key], **tol)


@pytest.mark.parametrize(("name", "dtype_name"), list(_cases()))
def test_fused_matches_torch_fused(name, dtype_name):
    _check_parity(name, dtype_name, "cpu")
    assert _fused._unavailable is None, _fused._unavailable
    # 真的走了编译内核（而不是悄悄退回 foreach）：缓存里有这个情形
    kernel = _fused.kernel_for(getattr(optlab, name))[0]
    assert any(k[0] == kernel.__name__ and k[2] == DTYPES[dtype_name] for k in _fused._compiled)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="没有 CUDA")
@pytest.mark.parametrize("name", list(OPTIONS))
def test_fused_matches_torch_fused_cuda(name):
    _check_parity(name, "float32", "cuda")


def test_torch_fused_sgd_half_is_off():
    """记录 torch 的缺陷，它修好时这个测试会失败，提醒我们把 SGD 的参照改回 fused。"""
    p0, g0 = torch.randn(32).half(), torch.randn(32).half()
    out = {}
    for impl in ({"fused": True}, {"foreach": False}):
        p = p0.clone().requires_grad_()
        p.grad = g0.clone()
        torch.optim.SGD([p], lr=0.1, **impl).step()
        out[str(impl)] = p.detach().float()
    assert (out["{'fused': True}"] - out["{'foreach': False}"]).abs().max() > 1e-2


def test_no_compiler_falls_back_with_one_warning(monkeypatch):
    """没有编译器时：只警告一次，之后走 foreach，结果与 torch 的 fused 在容差内一致。"""
    monkeypatch.setattr(_fused, "_unavailable", None)
    monkeypatch.setattr(_fused, "_no_compiler_reason", lambda: "no C++ compiler found")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours, _ = _run(optlab, "Adam", {"lr": 0.01, "fused": True}, torch.float32)
        _run(optlab, "SGD", {"lr": 0.1, "momentum": 0.9, "fused": True}, torch.float32)
    messages = [str(w.message) for w in caught if "fused=True" in str(w.message)]
    assert len(messages) == 1 and "no C++ compiler found" in messages[0], messages
    theirs, _ = _run(torch.optim, "Adam", {"lr": 0.01, "fused": True}, torch.float32)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


def test_fused_flag_only_compiles_for_the_four():
    """只有 torch 接受 fused 的算法有编译内核；AdamW 沿继承用 Adam 的内核。"""
    assert _fused.kernel_for(optlab.AdamW) is _fused.kernel_for(optlab.Adam) is not None
    assert (
        _fused.kernel_for(optlab.SGD) is not None and _fused.kernel_for(optlab.Adagrad) is not None
    )
    assert _fused.kernel_for(optlab.RMSprop) is None


def test_step_counters_live_in_one_tensor_and_follow_changes():
    """fused 时各参数的 ``step`` 是同一个一维张量的视图（一次加法推进全部）。

    参与的参数变化（某步有参数没有梯度）、载入别处的 state_dict 之后，计数器照样与 torch 一致。
    """
    gen = torch.Generator().manual_seed(1)
    shapes = SHAPES
    ours = [torch.randn(s, generator=gen).requires_grad_() for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    ours_opt = optlab.Adam(ours, lr=0.01, fused=True)
    theirs_opt = torch.optim.Adam(theirs, lr=0.01, fused=True)

    def step(skip=None):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            grad = None if i == skip else torch.randn(a.shape, generator=gen)
            a.grad, b.grad = grad, None if grad is None else grad.clone()
        ours_opt.step()
        theirs_opt.step()
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b)
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(ours_opt.state[a], theirs_opt.state[b])

    def storages():
        return {ours_opt.state[p]["step"].untyped_storage().data_ptr() for p in ours}

    step()
    step()
    assert len(storages()) == 1  # 四个计数器在同一个张量里
    step(skip=1)  # 第二个参数这一步没有梯度：它的计数器停在 2，其余到 3
    assert [int(ours_opt.state[p]["step"]) for p in ours] == [3, 2, 3, 3]
    step()
    # 载入的是各自独立的张量（深拷贝：state_dict 给出的是 torch 优化器自己的状态张量）
    ours_opt.load_state_dict(copy.deepcopy(theirs_opt.state_dict()))
    step()
    assert len(storages()) == 1
    assert [int(ours_opt.state[p]["step"]) for p in ours] == [5, 4, 5, 5]


class _SgdSideBySide:
    """fused SGD（动量）与 foreach SGD 拿同样的梯度并排走；每步之后参数必须一致。"""

    def __init__(self, shapes, seed):
        self.gen = torch.Generator().manual_seed(seed)
        self.fused = [torch.randn(s, generator=self.gen).requires_grad_() for s in shapes]
        self.plain = [p.detach().clone().requires_grad_() for p in self.fused]
        self.fused_opt = optlab.SGD(self.fused, lr=0.1, momentum=0.9, fused=True)
        self.plain_opt = optlab.SGD(self.plain, lr=0.1, momentum=0.9, foreach=True)

    def step(self, transposed=False):
        """``transposed``：梯度按转置存放（形状相同、步幅不同）。"""
        for a, b in zip(self.fused, self.plain):
            if transposed:
                grad = torch.randn(a.shape[::-1], generator=self.gen).t()
            else:
                grad = torch.randn(a.shape, generator=self.gen)
            a.grad, b.grad = grad, grad.clone()
        self.fused_opt.step()
        self.plain_opt.step()
        for a, b in zip(self.fused, self.plain):
            torch.testing.assert_close(a, b)


def test_generated_code_is_called_directly_until_the_inputs_change():
    """编译之后每步直接调用生成的代码；输入的布局一变（这里换成转置存放的梯度），守卫不通过，
    回到 torch.compile 重新编译——结果始终与 foreach 路径一致。"""
    pair = _SgdSideBySide([(4, 3), (6, 5)], seed=2)
    step = pair.step
    for _ in range(3):
        step()
    kernel = next(v for k, v in _fused._compiled.items() if k[0] == "sgd_kernel" and k[3] == 2)
    assert len(kernel._variants) == 1
    code, pick, guard = kernel._variants[0]
    calls = []
    kernel._variants[0] = (lambda *inputs: calls.append(code(*inputs)), pick, guard)
    step()
    assert len(calls) == 1  # 直接调用了生成的代码
    step(transposed=True)
    assert len(calls) == 1  # 梯度的步幅变了：没有直接调用，而是重新编译
    assert len(kernel._variants) == 2 and kernel._variants[0][0] is not code
    step(transposed=True)
    step()
    assert len(calls) == 2  # 换回原来的布局：又直接调用最初那份代码，不再编译
    assert len(kernel._variants) == 2


def test_without_the_tensor_guard_every_step_goes_through_torch_compile(monkeypatch):
    """torch 的内部守卫类不可用时（别的 torch 版本），不直接调用生成的代码，结果照样正确。"""
    monkeypatch.setattr(_fused, "_tensor_guard", lambda tensors: None)
    # 五个张量：别的测试没有编译过这个缓存键
    pair = _SgdSideBySide([(3,), (4, 2), (5,), (2, 2, 2), (6,)], seed=3)
    for _ in range(4):
        pair.step()
    kernel = next(v for k, v in _fused._compiled.items() if k[0] == "sgd_kernel" and k[3] == 5)
    assert kernel._variants == []


def test_steady_state_skips_the_per_tensor_checks_until_a_sparse_gradient(monkeypatch):
    """同一组参数第二次编译调用之后走快路径：不再逐个张量地查稀疏梯度、按设备与 dtype 分桶
    （守卫核对每个输入时已经核对了这些）。来了稀疏梯度，守卫不通过，照样像 torch 一样报错。"""
    shapes = [(4, 3), (6, 5), (7,)]
    pair = _SgdSideBySide(shapes, seed=4)
    for _ in range(3):
        pair.step()
    bucketed = []
    original = optlab.optimizer.bucket_by_device_and_dtype
    monkeypatch.setattr(
        optlab.optimizer,
        "bucket_by_device_and_dtype",
        lambda *lists: bucketed.append(lists[0]) or original(*lists),
    )
    pair.step()
    assert len(bucketed) == 1  # 只有 foreach 的对照组分了桶
    assert bucketed[0][0] is pair.plain[0]
    pair.fused[0].grad = torch.zeros(shapes[0]).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        pair.fused_opt.step()
    theirs = torch.optim.SGD([torch.zeros(shapes[0], requires_grad=True)], momentum=0.9, fused=True)
    theirs.param_groups[0]["params"][0].grad = torch.zeros(shapes[0]).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        theirs.step()


def test_input_checks_are_per_optimizer_even_when_the_kernel_is_shared():
    """编译结果在进程里共享，快路径却按优化器、按参数组记录“完整检查已通过”：另一个优化器的
    复数参数的实数视图与已编译的输入长得一样（同形状、同 dtype），仍像 torch 一样被拒绝。"""
    real = torch.randn(3, 2, requires_grad=True)
    real_opt = optlab.Adagrad([real], lr=0.1, fused=True)
    for _ in range(3):
        real.grad = torch.randn(3, 2)
        real_opt.step()
    for module in (torch.optim, optlab):
        z = torch.randn(3, dtype=torch.complex64, requires_grad=True)
        opt = module.Adagrad([z], lr=0.1, fused=True)
        for _ in range(2):
            z.grad = torch.randn(3, dtype=torch.complex64)
            with pytest.raises(RuntimeError, match="fused"):
                opt.step()


def test_a_failing_compiler_falls_back_once_and_counts_each_step_once(monkeypatch):
    """编译器不能用（这里指向一个不存在的 C++ 编译器）：第一次 step 时警告一次、说明原因，
    这一步与之后各步都走 foreach；结果与 torch 的 fused 一致，step 计数器每步只加一次。"""
    monkeypatch.setattr(_fused, "_unavailable", None)
    monkeypatch.setattr(
        _fused, "COMPILE_OPTIONS", {**_fused.COMPILE_OPTIONS, "cpp.cxx": ("/nonexistent/c++",)}
    )
    gen = torch.Generator().manual_seed(5)
    shapes = [(3,), (4, 2), (5,), (2, 2, 2), (6,), (7,)]  # 六个张量：别的测试没有编译过这个缓存键
    ours = [torch.randn(s, generator=gen).requires_grad_() for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    ours_opt = optlab.Adam(ours, lr=0.01, fused=True)
    theirs_opt = torch.optim.Adam(theirs, lr=0.01, fused=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            for a, b in zip(ours, theirs):
                a.grad = torch.randn(a.shape, generator=gen)
                b.grad = a.grad.clone()
            ours_opt.step()
            theirs_opt.step()
    messages = [str(w.message) for w in caught if "fused=True" in str(w.message)]
    assert len(messages) == 1 and "C++ compiler" in messages[0], messages
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(ours_opt.state[a], theirs_opt.state[b])
