r"""``fused=True``：把可读的更新公式交给 ``torch.compile``，由编译器融合成一个内核。

torch 为 SGD、Adam、AdamW、Adagrad 手写了 fused 内核：每个元素的 :math:`\theta, g` 与状态只从内存
读一次、算完整个更新、写回一次。这里不手写内核，而是把算法框里的公式照原样写成一个普通的 Python
函数（逐个张量、逐元素的张量运算），交给 ``torch.compile``：Inductor 在 CPU 上生成 C++/OpenMP、
在 GPU 上生成 Triton 内核，把每个张量上的一串逐元素运算融合成一次读写——“写公式，让编译器融合”。

几点约定：

* **只编译一次**。编译结果按（算法、设备、dtype、张量个数、改变计算图的选项）缓存；学习率等超参数
  是计算图的输入而不是常量，所以调度器改学习率不会触发重新编译。第一次 ``step()`` 要付编译的代价：
  几个张量几秒；ResNet-18 的 62 个张量十几到几十秒；几百个形状各不相同的小张量要一两分钟（每种形状
  生成一段 C++ 代码）。Inductor 把生成的代码缓存在磁盘上，同一台机器上的下一个进程只剩追踪公式的
  几秒到十几秒。
* **之后直接调用生成的代码**。经 ``torch.compile`` 调用时，dynamo 每次都要在 Python 里把参数列表拆成
  一个个张量、逐个核对守卫；几百个小张量时这比内核本身还慢。所以编译时记下 Inductor 生成的代码，
  之后每步用一个 C++ 张量守卫一次核对全部输入（dtype、设备、形状、步幅），通过就直接调用它
  （见 :class:`CompiledKernel`）。一组参数走过一次完整的路径之后，这个守卫也替代了逐个张量的
  稀疏梯度检查与按设备、dtype 分桶（见 :func:`fused_step_direct`）。同理，各参数的 ``step``
  计数器放在同一个一维张量里，一次加法推进全部。
* **数值与 torch 的 fused 内核一致**：每个参数一个的标量（偏差修正、步长）在调用内核前用
  float64 算好；float16/bfloat16 参数读入后在 float32 里计算，写回时再舍入（torch 的内核同样如此）。
* **没有编译器时退回 foreach**：例如机器上没有 C++ 编译器，或 Python 版本不受 ``torch.compile``
  支持。此时只发出**一次**警告，之后走与 foreach 相同的多张量路径，结果在容差内一致。

只有 torch 接受 ``fused=True`` 的四个算法在这里有编译内核；其余算法的 ``fused`` 参数与 torch 相同。
"""

from __future__ import annotations

import inspect
import operator
import re
import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

__all__ = ["adagrad_kernel", "adam_kernel", "fused_step_direct", "fused_update", "sgd_kernel"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    """半精度在 float32 里算（与 torch 的 fused 内核相同），其余 dtype 原样。"""
    return torch.float32 if t.dtype in _LOW_PRECISION else t.dtype


# ---------------------------------------------------------------------- 三个算法的公式
# 每个函数都只是算法框的逐元素写法：先把张量读成计算 dtype，算出新值，最后各写回一次。
# 编译器看到的是“读 θ、g、状态 → 一串逐元素运算 → 写 θ、状态”，正好融合成一个内核。


def sgd_kernel(params, grads, bufs, lr, weight_decay, momentum, dampening, *, nesterov):
    r"""SGD：:math:`b \leftarrow \mu b + (1-\tau) g`，:math:`\theta \leftarrow \theta - \gamma b`。

    ``bufs`` 为 None 表示没有动量；第一步（缓冲区尚未建立）由调用者走 foreach 路径。
    """
    for i, (p, g) in enumerate(zip(params, grads)):
        dtype = _compute_dtype(p)
        theta, grad = p.to(dtype), g.to(dtype)
        if weight_decay is not None:
            grad = grad + weight_decay * theta
        if bufs is not None:
            buf = bufs[i].to(dtype) * momentum + (1 - dampening) * grad
            bufs[i].copy_(buf)
            grad = grad + momentum * buf if nesterov else buf
        p.copy_(theta - lr * grad)


def adam_kernel(
    params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, step_sizes, bias2_sqrts,
    lr, beta1, beta2, eps, weight_decay, *, decoupled,
):  # fmt: skip
    r"""Adam / AdamW：:math:`m \leftarrow \beta_1 m + (1-\beta_1) g`，
    :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`，
    :math:`\theta \leftarrow \theta - \frac{\gamma}{1-\beta_1^t}\, m / (\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon)`。

    ``step_sizes`` 与 ``bias2_sqrts`` 是每个参数一个的 :math:`\gamma/(1-\beta_1^t)` 与
    :math:`\sqrt{1-\beta_2^t}`（一维张量，调用前已在 float64 里算好）；``weight_decay`` 为 None
    表示不衰减；``max_exp_avg_sqs`` 为 None 表示不开 amsgrad。
    """
    for i, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        dtype = _compute_dtype(p)
        theta, grad, m_new, v_new = p.to(dtype), g.to(dtype), m.to(dtype), v.to(dtype)
        if weight_decay is not None:
            if decoupled:
                theta = theta * (1 - lr * weight_decay)
            else:
                grad = grad + weight_decay * theta
        m_new = m_new + (1 - beta1) * (grad - m_new)
        v_new = beta2 * v_new + (1 - beta2) * grad * grad
        m.copy_(m_new)
        v.copy_(v_new)
        if max_exp_avg_sqs is not None:
            v_new = torch.maximum(max_exp_avg_sqs[i].to(dtype), v_new)
            max_exp_avg_sqs[i].copy_(v_new)
        denom = v_new.sqrt() / bias2_sqrts[i].to(dtype) + eps
        p.copy_(theta - step_sizes[i].to(dtype) * m_new / denom)


def adagrad_kernel(params, grads, sums, clrs, weight_decay, eps):
    r"""Adagrad：:math:`s \leftarrow s + g^2`，:math:`\theta \leftarrow \theta - \tilde\gamma\, g / (\sqrt{s} + \epsilon)`，
    其中 ``clrs`` 是每个参数一个的 :math:`\tilde\gamma = \gamma / (1+(t-1)\eta)`（调用前算好）。"""
    for i, (p, g, s) in enumerate(zip(params, grads, sums)):
        dtype = _compute_dtype(p)
        theta, grad, acc = p.to(dtype), g.to(dtype), s.to(dtype)
        if weight_decay is not None:
            grad = grad + weight_decay * theta
        acc = acc + grad * grad
        s.copy_(acc)
        p.copy_(theta - clrs[i].to(dtype) * grad / (acc.sqrt() + eps))


# ---------------------------------------------------------------------- 从参数组到内核参数
class Prepared(NamedTuple):
    """一次内核调用所需的一切。"""

    args: tuple
    flags: dict
    #: 内核调用成功之后要加 1 的 step 计数器（一维张量或张量列表）；算法没有计数器时为 None。
    #: 计数器在调用之后才推进，所以这一步改走别的路径时没有什么要撤回。
    counters: Any = None


def _nonzero(x: Any) -> Any:
    """0 表示“不做这一项”：改成 None，让它成为计算图结构的一部分而不是一次乘零。"""
    return None if (not isinstance(x, torch.Tensor) and x == 0) else x


def _float(x: Any) -> Any:
    return x.item() if isinstance(x, torch.Tensor) else x


def _scalars(*values: Any) -> list:
    """超参数作为 0 维 float64 张量交给内核：它们是计算图的输入，改学习率不会重新编译。"""
    return [None if v is None else torch.tensor(_float(v), dtype=torch.float64) for v in values]


def _sgd_args(optimizer, group, params, grads, states):
    momentum = _float(group["momentum"])
    bufs = None
    if momentum != 0:
        bufs = [s.get("momentum_buffer") for s in states]
        if any(b is None for b in bufs):
            return None  # 第一步：缓冲区直接取梯度本身，交给 foreach 路径
    args = (params, grads, bufs, *_scalars(group["lr"], _nonzero(_float(group["weight_decay"])),
            momentum, group["dampening"]))  # fmt: skip
    return Prepared(args, {"nesterov": bool(group["nesterov"])})


class _Ledger:
    """每个优化器一份的记录（随优化器回收）。"""

    def __init__(self) -> None:
        #: 一组 step 视图的 id → (这些视图, 它们共同所在的一维张量)
        self.packed: dict[tuple, tuple] = {}
        #: 整组作为一个桶走完过完整路径（稀疏梯度与复数参数的检查、分桶、编译）的参数组：
        #: ``id(group["params"])`` → 当时有梯度的参数个数
        self.checked: dict[int, int] = {}


_ledgers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _ledger(optimizer: Any) -> _Ledger:
    ledger = _ledgers.get(optimizer)
    if ledger is None:
        ledger = _ledgers[optimizer] = _Ledger()
    return ledger


def _packed(optimizer: Any, states: list, steps: list) -> torch.Tensor | None:
    """这些参数的 step 计数器所在的同一个一维张量；第一次时把它们搬进去（值不变）。

    搬过之后 ``state["step"]`` 是这个一维张量的 0 维视图：状态的布局、dtype、取值都与原来相同，
    但推进全部计数器只要一次加法。几百个小张量时，逐个加 1 本身就要半毫秒，比融合内核还慢。
    计数器不是同样 dtype、设备的 0 维张量时（例如刚载入的旧检查点）返回 None，照逐个的办法做。
    """
    packed = _ledger(optimizer).packed
    hit = packed.get(tuple(map(id, steps)))
    if hit is not None:
        return hit[1]
    first = steps[0]
    if any(s.dim() or s.dtype != first.dtype or s.device != first.device for s in steps):
        return None
    flat = torch.stack(steps)
    views = flat.unbind()
    for state, view in zip(states, views):
        state["step"] = view
    if len(packed) > 64:  # 参与的参数反复变化时，丢掉早已不在状态里的旧视图
        packed.clear()
    packed[tuple(map(id, views))] = (views, flat)
    return flat


def _next_steps(optimizer: Any, states: list) -> tuple[Any, torch.Tensor]:
    """(各参数的 step 计数器, 这一步的 t 排成的一维 float64 张量)。

    每个参数一个的标量（偏差修正、步长）在调用内核之前用 t 算好：这几次运算只涉及几百个数；
    若留在内核里，编译器会把幂运算内联进逐元素的循环，每个元素都重算一遍。
    """
    steps = [s["step"] for s in states]
    flat = None if torch.compiler.is_compiling() else _packed(optimizer, states, steps)
    counters = steps if flat is None else flat
    return counters, (torch.stack(steps) if flat is None else flat).to(torch.float64) + 1


def _advance(counters: Any) -> None:
    """内核调用成功之后：各参数的 step 加 1。"""
    if isinstance(counters, list):
        torch._foreach_add_(counters, 1)
    elif counters is not None:
        counters.add_(1)


def _adam_args(optimizer, group, params, grads, states):
    lr, eps = _float(group["lr"]), _float(group["eps"])
    beta1, beta2 = (_float(b) for b in group["betas"])
    counters, t = _next_steps(optimizer, states)
    step_sizes = lr / (1 - beta1**t)
    bias2_sqrts = (1 - beta2**t).sqrt()
    max_sqs = [s["max_exp_avg_sq"] for s in states] if group["amsgrad"] else None
    args = (
        params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
        max_sqs, step_sizes, bias2_sqrts,
        *_scalars(lr, beta1, beta2, eps, _nonzero(_float(group["weight_decay"]))),
    )  # fmt: skip
    return Prepared(args, {"decoupled": bool(group.get("decoupled_weight_decay", False))}, counters)


def _adagrad_args(optimizer, group, params, grads, states):
    lr, lr_decay = _float(group["lr"]), _float(group["lr_decay"])
    counters, t = _next_steps(optimizer, states)
    clrs = lr / (1 + (t - 1) * lr_decay)
    args = (
        params, grads, [s["sum"] for s in states], clrs,
        *_scalars(_nonzero(_float(group["weight_decay"])), group["eps"]),
    )  # fmt: skip
    return Prepared(args, {}, counters)


def _adagrad_check(optimizer, group):
    # Adagrad 在构造时就建好状态，基类“建状态时检查 fused 的输入”的时机不会到来：在这里检查
    optimizer._check_fused(group)


class Recipe(NamedTuple):
    """一个算法的 fused 做法。"""

    kernel: Callable  # 逐元素的公式（上面的 *_kernel）
    prepare: Callable  # (优化器, 参数组, params, grads, states) → Prepared；这一步不适合时为 None
    check: Callable | None = None  # 调用内核之前、torch 在 step 里做的输入检查


#: 算法类名 → 它的做法。子类（AdamW 继承 Adam）沿 MRO 找到父类的条目。
KERNELS: dict[str, Recipe] = {
    "SGD": Recipe(sgd_kernel, _sgd_args),
    "Adam": Recipe(adam_kernel, _adam_args),
    "Adagrad": Recipe(adagrad_kernel, _adagrad_args, _adagrad_check),
}


def kernel_for(optimizer_class: type) -> Recipe | None:
    for cls in optimizer_class.__mro__:
        if cls.__module__.startswith("optlab.") and cls.__name__ in KERNELS:
            return KERNELS[cls.__name__]
    return None


# ---------------------------------------------------------------------- 编译与缓存
#: 为 False 时 fused=True 直接走 foreach 路径、不编译（测试套件用它：逐个选项组合核对 fused 的
#: 语义时，每种组合都编译一次要花几秒；编译内核本身由 tests/test_fused.py 核对）
COMPILE = True
#: 交给 Inductor 的选项。size_asserts：生成的代码每次调用都逐个检查输入的形状与步幅——dynamo 的
#: 守卫已经检查过同样的东西；几百个小张量时这一遍重复检查占一步的三成，所以关掉。
COMPILE_OPTIONS: dict = {"size_asserts": False}
_compiled: dict[tuple, CompiledKernel] = {}
_unavailable: str | None = None  # 编译器不可用的原因；非 None 后不再尝试


def _fresh_copy(fn: Callable) -> Callable:
    """函数的一个独立副本：dynamo 按代码对象缓存编译结果并限制每个代码对象的重编译次数，
    每个缓存键用自己的副本，几个参数组、几种 dtype 互不挤占。"""
    copy = types.FunctionType(
        fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


_GRAPH_INPUT = re.compile(r"L\['(\w+)'\](?:\[(\d+)\])?")


class CompiledKernel:
    """一个公式的编译版本：第一次调用时编译，之后直接调用 Inductor 生成的代码。

    经 ``torch.compile`` 调用时，dynamo 先在 Python 里把参数列表拆成几百个张量，再逐个核对守卫；
    几百个小张量时，这一趟比融合内核本身还慢。所以编译时记下生成的代码、它的每个输入取自哪个
    参数，并为这些输入建一个张量守卫（dynamo 自己的 C++ 检查：dtype、设备、形状、步幅、是否要求
    梯度）；之后每步用它一次核对全部输入，通过就直接调用生成的代码，不通过（例如换了形状）就回到
    ``torch.compile``，由它照常重新编译。每次编译的结果都留着（最近的在前），输入的布局在几种之间
    来回换时，每种都能直接调用。
    """

    #: 最多留几份编译结果
    MAX_VARIANTS = 8

    def __init__(self, kernel: Callable) -> None:
        self._names = list(inspect.signature(kernel).parameters)
        self._traced = torch.compile(
            _fresh_copy(kernel), backend=self._compile, dynamic=False, fullgraph=True
        )
        # 每份编译结果：(生成的代码, 从参数里取出它的输入的方法, 编译时各输入的守卫)
        self._variants: list[tuple[Callable, _InputPicker, Any]] = []

    def _compile(self, graph: torch.fx.GraphModule, example_inputs: list) -> Callable:
        from torch._inductor.compile_fx import compile_fx

        code = compile_fx(graph, example_inputs, config_patches=COMPILE_OPTIONS)
        where = [self._where(node) for node in graph.graph.find_nodes(op="placeholder")]
        guard = None if None in where else _tensor_guard(example_inputs)
        if guard is not None:
            self._variants.insert(0, (code, _InputPicker(where), guard))
            del self._variants[self.MAX_VARIANTS :]
        return code

    def _where(self, node: torch.fx.Node) -> tuple[int, int | None] | None:
        """计算图的一个输入取自内核的哪个参数（如 ``L['params'][3]``）；认不出时为 None。"""
        graph_arg = node.meta.get("grapharg")
        match = graph_arg is not None and _GRAPH_INPUT.fullmatch(graph_arg.source.name)
        if not match or match[1] not in self._names:
            return None
        return self._names.index(match[1]), None if match[2] is None else int(match[2])

    def call_direct(self, args: tuple) -> bool:
        """输入与某次编译时一致（守卫通过）就直接调用那次生成的代码，返回是否调用了。"""
        if torch.is_grad_enabled():
            return False
        for code, pick, guard in self._variants:
            inputs = pick(args)
            if inputs is not None and guard.check(*inputs):
                code(*inputs)
                return True
        return False

    def __call__(self, *args: Any, **flags: Any) -> None:
        if not self.call_direct(args):
            self._traced(*args, **flags)


class _InputPicker:
    """按编译时记下的取法，从内核的参数里取出生成代码的输入。

    先把参数（张量列表与单个张量）首尾相接成一个列表，再用一个 ``itemgetter`` 按下标取：
    几百个张量时，这比逐个 ``args[i][k]`` 快好几倍。列表长度变了就重新算下标。
    """

    def __init__(self, where: list[tuple[int, int | None]]) -> None:
        self._where = where
        self._lengths: list | None = None
        self._get: Callable | None = None

    def __call__(self, args: tuple) -> tuple | None:
        flat: list = []
        lengths = []
        for arg in args:
            if isinstance(arg, list):
                flat += arg
                lengths.append(len(arg))
            else:
                flat.append(arg)
                lengths.append(None)
        if lengths != self._lengths:
            self._lengths, self._get = lengths, self._getter(lengths)
        return None if self._get is None else self._get(flat)

    def _getter(self, lengths: list) -> Callable | None:
        starts, position = [], 0
        for length in lengths:
            starts.append(position)
            position += 1 if length is None else length
        indices = []
        for i, k in self._where:
            if (k is None) != (lengths[i] is None) or (k is not None and k >= lengths[i]):
                return None  # 参数的结构与编译时不同：交给 torch.compile
            indices.append(starts[i] + (k or 0))
        get = operator.itemgetter(*indices)
        return get if len(indices) > 1 else lambda flat: (get(flat),)


def _tensor_guard(tensors: list) -> Any:
    """这些张量的 dtype、设备、形状、步幅与求导属性的 C++ 守卫（dynamo 用的同一个类）。

    这是 torch 的内部类：别的 torch 版本里没有它或参数不同时返回 None，每步照常经 torch.compile。
    """
    try:
        from torch._C._dynamo.guards import TensorGuards

        return TensorGuards(
            *tensors,
            dynamic_dims_sizes=[list(t.shape) for t in tensors],
            dynamic_dims_strides=[list(t.stride()) for t in tensors],
        )
    except (ImportError, TypeError, RuntimeError):
        return None


def compiled_kernel(kernel: Callable, key: tuple) -> CompiledKernel:
    """``kernel`` 针对 ``key`` 的编译版本（只建一次）。"""
    fn = _compiled.get(key)
    if fn is None:
        fn = _compiled[key] = CompiledKernel(kernel)
    return fn


def _no_compiler_reason() -> str | None:
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile is not supported on this Python version"
    return None


def _disable(reason: str) -> None:
    global _unavailable
    _unavailable = reason
    warnings.warn(
        f"fused=True: the compiled fused kernel is unavailable ({reason}); "
        "falling back to the foreach implementation (same numerics, slower).",
        RuntimeWarning,
        stacklevel=4,
    )


def _cache_key(kernel: Callable, params: list, prepared: Prepared) -> tuple:
    # 形状不进键：编译结果的守卫会检查形状，每步只多算这几项，几百个张量时也不拖慢
    first = params[0]
    return (kernel.__name__, first.device.type, first.dtype, len(params),
            tuple(sorted(prepared.flags.items())), tuple(a is None for a in prepared.args))  # fmt: skip


def _compiler_ready() -> bool:
    return COMPILE and _unavailable is None and not torch.compiler.is_compiling()


def fused_step_direct(
    optimizer: Any, group: dict[str, Any], params: list, grads: list, states: list
) -> bool:
    """快路径：整组参数直接交给编译好的内核，返回是否做完了这一步。

    一组参数通常每步都是同一批张量。这一组走过一次完整的路径（稀疏梯度与复数参数的检查、
    按设备与 dtype 分桶、编译）之后，守卫核对每个输入的 dtype、设备、形状、步幅与存储方式时，
    也就核对了“全组同一个桶、梯度都是稠密的”；所以不再逐个张量地做这几项检查，少走几遍
    Python 循环。守卫不通过（换了 dtype、来了稀疏梯度……）就返回 False，交回完整的路径。
    """
    recipe = kernel_for(type(optimizer))
    if recipe is None or not _compiler_ready():
        return False
    if _ledger(optimizer).checked.get(id(group["params"])) != len(params):
        return False
    prepared = recipe.prepare(optimizer, group, params, grads, states)
    if prepared is None:
        return False
    fn = _compiled.get(_cache_key(recipe.kernel, params, prepared))
    if fn is None or not fn.call_direct(prepared.args):
        return False
    _advance(prepared.counters)
    return True


def fused_update(
    optimizer: Any,
    group: dict[str, Any],
    params: list,
    grads: list,
    states: list,
    *,
    whole_group: bool = False,
) -> None:
    """完整路径上的一个桶（同设备、同 dtype；``whole_group``：这个桶就是整组有梯度的参数）：
    能编译就调编译好的内核，否则（或这一步不适合）走 foreach 路径。"""
    recipe = kernel_for(type(optimizer))
    prepared = None
    if recipe is not None and COMPILE and _unavailable is None:
        reason = _no_compiler_reason()
        if reason is not None:
            _disable(reason)
        else:
            if recipe.check is not None:
                recipe.check(optimizer, group)
            prepared = recipe.prepare(optimizer, group, params, grads, states)
    if prepared is None:
        optimizer.update_foreach(group, params, grads, states)
        return
    if torch.compiler.is_compiling():  # 外层已在编译（torch.compile(opt.step)）：直接内联公式
        recipe.kernel(*prepared.args, **prepared.flags)
        _advance(prepared.counters)
        return
    key = _cache_key(recipe.kernel, params, prepared)
    fresh = key not in _compiled
    fn = compiled_kernel(recipe.kernel, key)
    try:  # 第一次调用时编译；编译失败发生在执行之前，参数与状态都还没被改动
        fn(*prepared.args, **prepared.flags)
    except Exception as exc:  # 第一次调用时任何编译失败都退回 foreach，并说明原因
        if not fresh:
            raise
        del _compiled[key]
        _disable(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        optimizer.update_foreach(group, params, grads, states)
        return
    _advance(prepared.counters)
    if whole_group:  # 之后同样多的参数有梯度时，这一组可以走快路径
        _ledger(optimizer).checked[id(group["params"])] = len(params)
