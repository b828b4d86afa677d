"""优化器探索器一次更新（重算 8 个优化器 × 200 步并重画）的耗时：中位数和 p90。

用法：.venv/bin/python benchmarks/widget_update.py [--repeat 30] [--threads 1] [--clock wall|process]
分别测 optlab 的优化器（尚未实现的退回 torch.optim）和纯 torch.optim，并拆出计算/绘制各自的耗时。
机器很忙时用 ``--clock process``（本进程的 CPU 时间）：不把等 CPU 的时间算进来。
"""

from __future__ import annotations

import argparse
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import torch
import torch.optim

from optlab.lab.trajectory import PRESETS
from optlab.lab.viz._resolve import resolve_class
from optlab.lab.viz.widgets import DEFAULT_NAMES, optimizer_explorer


def measure(fn, repeat, clock=time.perf_counter):
    times = []
    for _ in range(repeat):
        t = clock()
        fn()
        times.append((clock() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--landscape", default="beale")
    ap.add_argument("--clock", default="wall", choices=["wall", "process"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "process" else time.perf_counter
    print(f"torch {torch.__version__}，线程数 {args.threads}，计时 {args.clock}，地形 {args.landscape}，优化器 {list(DEFAULT_NAMES)}，200 步")
    resolvers = {"optlab（缺的用 torch.optim）": resolve_class, "torch.optim": lambda n: getattr(torch.optim, n)}
    for title, resolver in resolvers.items():
        e = optimizer_explorer(args.landscape, DEFAULT_NAMES, steps=200, resolver=resolver)
        slider = e.controls["lr_scale"]
        values = iter([1.0 + 0.001 * i for i in range(1, 10 * args.repeat)])

        def full_update(slider=slider, values=values):
            slider.value = next(values)  # 触发回调：重算 + 重画

        med, p90 = measure(full_update, args.repeat, clock)
        cmed, cp90 = measure(e.compute, args.repeat, clock)
        print(f"{title:>28}: 一次更新 中位数 {med:6.1f} ms，p90 {p90:6.1f} ms；"
              f"其中计算 中位数 {cmed:6.1f} ms，p90 {cp90:6.1f} ms")  # fmt: skip
        classes = {resolver(PRESETS[n].optimizer) for n in DEFAULT_NAMES}
        used = sorted(f"{c.__module__}.{c.__name__}" for c in classes)
        print(" " * 30 + "实际使用的模块：" + "、".join(used))


if __name__ == "__main__":
    main()
