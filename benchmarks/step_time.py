"""计时 ``optimizer.step()``：optlab 对 torch.optim，逐个算法、逐种实现（for-loop / foreach / fused）。

两种参数集：

* ``resnet18``：ResNet-18 的 62 个参数张量（约 1170 万个数），形状照抄 torchvision；
* ``small400``：400 个 64–1024 元素的小张量，测的主要是每一步的 Python 开销。

两个算法的参数/梯度按它们的用途改造，optlab 与 torch 拿到的仍是完全相同的输入：

* Muon 只接受矩阵：卷积核展平成 ``(out, in·kh·kw)``，一维张量（偏置、BN）不交给它
  （实际训练里它们也交给 AdamW），小张量集里每个张量变成 ``8 × n/8`` 的矩阵；
* SparseAdam 的梯度像 ``nn.Embedding(sparse=True)`` 产生的那样：沿第 0 维取约 1/8 的行、
  下标有重复、未合并（两边每步都要先 coalesce 再更新被触及的行）。

SGD 一律带动量（``momentum=0.9``）。两边交替计时（漂移互相抵消），取多轮的中位数，
打印 optlab/torch 的比值和几何平均。每轮连续跑若干步、一起计时：步数按预热后试测的单步耗时
定，使每段计时至少 ``--window`` 毫秒（默认 50）——小张量集一步只要零点几毫秒，单独计几步时，
一次中断或垃圾回收就能让那一轮的比值偏离三成。

两种额外模式：

* ``--mode fused``：只测 ``fused=True``（SGD、Adam、AdamW、Adagrad）。optlab 的 fused 由
  ``torch.compile`` 从公式生成；编译发生在预热里，不计入耗时（单独打印第一次编译用了多久）。
  另打印 fused 单步耗时相对**内存带宽下限**的倍数：每步最少读写的字节数 ÷ 实测原地
  ``a.add_(b)`` 的带宽（每个元素读 a、b，写 a，共 12 字节）。带宽在每种情形计时之后紧接着
  再测一次（虚拟机上它会随时间漂移），两边的倍数都用这次的值。
* ``--mode compiled``：两边都是 ``torch.compile(optimizer.step)``（默认实现），预热时编译。

只在出错时以非零状态退出；慢不算错。用法::

    python -m benchmarks.step_time [--mode eager|fused|compiled] [--device cpu|cuda]
        [--only Adam SGD] [--repeat 5] [--window 50] [--quick]
"""

from __future__ import annotations

import argparse
import inspect
import math
import statistics
import sys
import time
import traceback
from collections.abc import Callable

import torch

import optlab
from optlab.lab.param_sets import PARAM_SETS, RESNET18_SHAPES, SMALL_SHAPES  # noqa: F401


def exported_algorithms() -> list[str]:
    """optlab 导出、且 torch.optim 里有同名类的优化器。"""
    names = []
    for name in getattr(optlab, "__all__", dir(optlab)):
        ours = getattr(optlab, name, None)
        if (
            isinstance(ours, type)
            and issubclass(ours, optlab.Optimizer)
            and ours is not optlab.Optimizer
            and hasattr(torch.optim, name)
        ):
            names.append(name)
    return sorted(names)


def _impls(name: str) -> list[str]:
    params = inspect.signature(getattr(torch.optim, name).__init__).parameters
    impls = ["for-loop"]
    if "foreach" in params:
        impls.append("foreach")
    if "fused" in params:
        impls.append("fused")
    return impls


def _impl_kwargs(impl: str, name: str = "") -> dict:
    extra = {"momentum": 0.9} if name == "SGD" else {}
    if impl == "default" or (impl == "for-loop" and name and "foreach" not in _impls(name)):
        return extra  # 例如 LBFGS：只有一种实现，没有 foreach 参数
    impl_kwargs = {
        "for-loop": {"foreach": False},
        "foreach": {"foreach": True},
        "fused": {"fused": True},
    }
    return {**impl_kwargs[impl], **extra}


#: fused 时每个元素每步最少读写的字节数（float32）：读 θ、g 与各状态，写回 θ 与各状态
FUSED_BYTES_PER_ELEMENT = {
    "SGD": 4 * (3 + 2),
    "Adagrad": 4 * (3 + 2),
    "Adam": 4 * (4 + 3),
    "AdamW": 4 * (4 + 3),
}


def inplace_bandwidth(numel: int = 1 << 24, device: str = "cpu", rounds: int = 15) -> float:
    """原地 ``a.add_(b)`` 的带宽（字节/秒）：每个元素读 a、b，写 a，共 12 字节；取最快的一次。"""
    a = torch.randn(numel, device=device)
    b = torch.randn(numel, device=device)
    best = float("inf")
    for _ in range(rounds):
        _sync(device)
        start = time.perf_counter()
        a.add_(b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 12 * numel / best


def shapes_for(name: str, shapes) -> list[tuple[int, ...]]:
    """这个算法实际要处理的形状（Muon 只收矩阵，见模块说明）。"""
    if name != "Muon":
        return list(shapes)
    if len(shapes[0]) > 1:  # ResNet-18：只留卷积核与全连接层，展平成矩阵
        return [(s[0], math.prod(s[1:])) for s in shapes if len(s) > 1]
    return [(8, -(-s[0] // 8)) for s in shapes]


def _sparse_rows_grad(shape, gen: torch.Generator) -> torch.Tensor:
    """像 ``nn.Embedding(sparse=True)`` 的梯度：约 1/8 的行，下标可重复，未合并。"""
    rows = torch.randint(shape[0], (max(1, shape[0] // 8),), generator=gen)
    values = torch.randn((len(rows), *shape[1:]), generator=gen) * 0.1
    return torch.sparse_coo_tensor(rows.unsqueeze(0), values, shape, check_invariants=True)


def _make(shapes, device, sparse: bool, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for shape in shapes:
        p = torch.randn(shape, generator=gen).to(device).requires_grad_()
        if sparse:
            p.grad = _sparse_rows_grad(shape, gen).to(device)
        else:
            p.grad = torch.randn(shape, generator=gen).to(device) * 0.1
        params.append(p)
    return params


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _stepper(opt, compiled: bool = False) -> Callable[[], None]:
    if type(opt).__name__ == "LBFGS":  # LBFGS 必须给闭包；梯度不变，闭包只返回一个常数损失
        loss = torch.tensor(1.0)
        return lambda: opt.step(lambda: loss)
    return torch.compile(opt.step) if compiled else opt.step


def time_case(
    name: str,
    impl: str,
    shapes,
    device: str,
    repeat: int,
    window: float,
    clock: Callable[[], float] = time.perf_counter,
    compiled: bool = False,
    details: dict | None = None,
) -> float:
    """返回 optlab/torch 的单步耗时比：每轮两边紧挨着各测一次，取各轮比值的中位数。

    每次计时连续跑 ``inner`` 步：预热之后两边各试测三步，按较慢一方的单步耗时，取使计时段不短于
    ``window`` 秒的步数。``details`` 给出时填入两边单步耗时的中位数（秒）、每段的步数与预热（含编译）所用的时间。
    """
    sparse = name == "SparseAdam"
    kwargs = {} if name == "SparseAdam" else _impl_kwargs(impl, name)
    shapes = shapes_for(name, shapes)
    ours_opt = getattr(optlab, name)(_make(shapes, device, sparse), **kwargs)
    theirs_opt = getattr(torch.optim, name)(_make(shapes, device, sparse), **kwargs)
    steps = {"ours": _stepper(ours_opt, compiled), "theirs": _stepper(theirs_opt, compiled)}
    warmup, per_step = {}, {}
    for who, step in steps.items():  # 预热：建状态、首次分配、编译（都不计时）
        start = time.perf_counter()
        for _ in range(3):
            step()
        _sync(device)
        warmup[who] = time.perf_counter() - start
    for who, step in steps.items():  # 试测几步，定每段计时连续跑几步（也不计入结果）
        start = time.perf_counter()
        for _ in range(3):
            step()
        _sync(device)
        per_step[who] = (time.perf_counter() - start) / 3
    inner = max(1, min(1000, math.ceil(window / max(per_step.values()))))
    ratios, times = [], {"ours": [], "theirs": []}
    for r in range(repeat):
        order = ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours")
        elapsed = {}
        for who in order:
            _sync(device)
            start = clock()
            for _ in range(inner):
                steps[who]()
            _sync(device)
            elapsed[who] = clock() - start
            times[who].append(elapsed[who] / inner)
        ratios.append(elapsed["ours"] / elapsed["theirs"])
    if details is not None:
        details.update(
            ours_s=statistics.median(times["ours"]),
            theirs_s=statistics.median(times["theirs"]),
            inner=inner,
            warmup_ours_s=warmup["ours"],
            warmup_theirs_s=warmup["theirs"],
        )
    return statistics.median(ratios)


def _supported(name: str, impl: str, device: str) -> bool:
    """torch 自己在这个设备上支持这种实现吗（例如某些算法没有 CPU fused 内核）。"""
    if name == "SparseAdam":  # 只有一种实现，梯度必须是稀疏的
        return impl == "for-loop"
    try:
        p = torch.zeros(4, 4, device=device, requires_grad=True)  # 二维：Muon 也接受
        p.grad = torch.ones(4, 4, device=device)
        opt = getattr(torch.optim, name)([p], **_impl_kwargs(impl, name))
        _stepper(opt)()
    except (RuntimeError, ValueError, TypeError, AssertionError):
        return False
    return True


FUSED_NAMES = ("SGD", "Adam", "AdamW", "Adagrad")


def _cases(mode: str, names: list[str]) -> list[tuple[str, str]]:
    """(算法, 实现) 的列表：eager 测每种实现，fused 只测 fused，compiled 测默认实现。"""
    if mode == "fused":
        return [(n, "fused") for n in names if n in FUSED_NAMES]
    if mode == "compiled":
        return [(n, "default") for n in names if n not in ("LBFGS", "SparseAdam")]
    return [(n, impl) for n in names for impl in _impls(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="optlab 与 torch.optim 的 step 计时对比")
    parser.add_argument("--mode", default="eager", choices=["eager", "fused", "compiled"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--only", nargs="*", default=None, help="只测这些算法")
    parser.add_argument("--repeat", type=int, default=9, help="每种情形交替计时的轮数")
    parser.add_argument("--quick", action="store_true", help="更少的轮数，粗略但快")
    parser.add_argument(
        "--window", type=float, default=50.0, help="每段计时至少多少毫秒（决定连续跑几步）"
    )
    parser.add_argument("--sets", nargs="*", default=list(PARAM_SETS), choices=list(PARAM_SETS))
    parser.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "process"],
        help="wall：墙钟；process：本进程 CPU 时间（机器很忙时更稳，仅限 CPU）",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "process" else time.perf_counter
    if args.device == "cuda" and not torch.cuda.is_available():
        print("没有可用的 CUDA 设备", file=sys.stderr)
        return 2
    repeat = 3 if args.quick else args.repeat
    names = args.only or exported_algorithms()
    torch.manual_seed(0)
    compiled = args.mode == "compiled"

    print(
        f"torch {torch.__version__}，设备 {args.device}，模式 {args.mode}，"
        f"线程 {torch.get_num_threads()}，每种情形 {repeat} 轮（中位数）"
    )
    bandwidth = None
    if args.mode == "fused":
        bandwidth = inplace_bandwidth(device=args.device)
        print(f"原地 a.add_(b) 带宽 {bandwidth / 1e9:.1f} GB/s（12 字节/元素）")
    extra = (f"{'optlab ms':>11}{'torch ms':>10}{'编译 s':>8}{'GB/s':>7}"
             f"{'optlab÷下限':>12}{'torch÷下限':>11}") if bandwidth else ""  # fmt: skip
    print(f"{'算法':<12}{'实现':<10}{'参数集':<10}{'optlab/torch':>14}{extra}")
    ratios, failed = [], False
    for name, impl in _cases(args.mode, names):
        for set_name in args.sets:
            label = f"{name:<12}{impl:<10}{set_name:<10}"
            if not _supported(name, "for-loop" if impl == "default" else impl, args.device):
                print(f"{label}{'n/a':>14}")
                continue
            details: dict = {}
            try:
                ratio = time_case(
                    name, impl, PARAM_SETS[set_name], args.device, repeat, args.window / 1e3,
                    clock, compiled=compiled, details=details,
                )  # fmt: skip
            except Exception:  # noqa: BLE001 - 报告后继续测其余情形
                failed = True
                print(f"{label}{'出错':>14}")
                traceback.print_exc()
                continue
            ratios.append((impl, ratio))
            flag = "  ← 慢" if ratio > 1.3 else ""
            line = f"{label}{ratio:>14.3f}"
            if bandwidth:
                bandwidth = inplace_bandwidth(device=args.device)  # 紧接着这种情形再测一次
                numel = sum(math.prod(s) for s in shapes_for(name, PARAM_SETS[set_name]))
                bound = FUSED_BYTES_PER_ELEMENT[name] * numel / bandwidth
                line += (f"{details['ours_s'] * 1e3:>11.3f}{details['theirs_s'] * 1e3:>10.3f}"
                         f"{details['warmup_ours_s']:>8.1f}{bandwidth / 1e9:>7.1f}"
                         f"{details['ours_s'] / bound:>12.2f}{details['theirs_s'] / bound:>11.2f}")  # fmt: skip
            print(line + flag, flush=True)
    _summary("全部", [r for _, r in ratios])
    if args.mode == "eager":
        _summary("不含 fused", [r for impl, r in ratios if impl != "fused"])
    return 1 if failed else 0


def _summary(label: str, ratios: list[float]) -> None:
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"{label}：几何平均 {geo:.3f}，最大 {max(ratios):.3f}，共 {len(ratios)} 种情形")


if __name__ == "__main__":
    sys.exit(main())
