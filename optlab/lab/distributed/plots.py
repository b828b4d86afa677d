"""第 12 节的三张图：每个进程的内存（实测与公式外推）、计算与通信的时间线（示意）、学习率缩放曲线（实测）。

只在笔记本进程里用；工作进程不导入这里（也就不导入 matplotlib）。
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from ..viz.colors import color_for
from .memory import STRATEGIES, Memory
from .scaling import RULES, ScalingRun

__all__ = ["PART_COLORS", "plot_memory", "plot_scaling", "plot_timeline"]

# 参数、梯度、优化器状态三类张量的颜色（不是优化器，不用 color_for）
PART_COLORS = {"参数": "#4c72b0", "梯度": "#dd8452", "优化器状态": "#55a868"}


def plot_memory(measured: Mapping[tuple[str, int], Memory], predicted: Mapping[tuple[str, int], Memory],
                *, unit: int = 1024, unit_name: str = "KiB"):  # fmt: skip
    """按进程数分组，每组三根柱（DDP、ZeRO-1、FSDP2），每根按参数/梯度/状态堆叠。

    ``measured`` 里的实测柱画实心，``predicted`` 里的公式外推柱画斜线。键是 (做法, 进程数)。
    """
    ns = sorted({n for _, n in measured} | {n for _, n in predicted})
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    width = 0.26
    for gi, n in enumerate(ns):
        for si, strategy in enumerate(STRATEGIES):
            is_measured = (strategy, n) in measured
            mem = measured.get((strategy, n)) or predicted.get((strategy, n))
            if mem is None:
                continue
            x = gi + (si - 1) * width
            bottom = 0.0
            for part, value in zip(PART_COLORS, (mem.params, mem.grads, mem.state)):
                ax.bar(x, value / unit, width * 0.92, bottom=bottom, color=PART_COLORS[part],
                       hatch=None if is_measured else "///", edgecolor="white", linewidth=0.5,
                       alpha=1.0 if is_measured else 0.55)  # fmt: skip
                bottom += value / unit
            ax.text(x, bottom, strategy, ha="center", va="bottom", fontsize=7.5, rotation=90)
    ax.set_xticks(range(len(ns)))
    ax.set_xticklabels([f"{n} 个进程\n" + ("实测" if any((s, n) in measured for s in STRATEGIES) else "公式外推")
                        for n in ns])  # fmt: skip
    ax.set_ylabel(f"每个进程的内存（{unit_name}）")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.18)
    handles = [Patch(color=c, label=p) for p, c in PART_COLORS.items()]
    handles.append(Patch(facecolor="white", edgecolor="grey", hatch="///", label="按公式外推"))
    ax.legend(handles=handles, loc="upper right", ncol=4)
    ax.set_title("每个进程存多少：DDP、ZeRO-1、FSDP2（AdamW，float32）")
    fig.tight_layout()
    return fig


# 时间线：每种做法两条泳道（计算、通信），每块是 (泳道, 开始, 结束, 文字)
_TIMELINES: dict[str, list[tuple[str, float, float, str]]] = {
    "DDP": [
        ("计算", 0.0, 3.0, "前向"), ("计算", 3.0, 5.0, "反向（后几层）"), ("计算", 5.0, 7.0, "反向（前几层）"),
        ("通信", 5.0, 6.6, "all-reduce 桶 2"), ("通信", 7.0, 8.6, "all-reduce 桶 1"),
        ("计算", 8.6, 10.4, "step\n全部参数"),
    ],
    "ZeRO-1": [
        ("计算", 0.0, 3.0, "前向"), ("计算", 3.0, 5.0, "反向（后几层）"), ("计算", 5.0, 7.0, "反向（前几层）"),
        ("通信", 5.0, 6.6, "all-reduce 桶 2"), ("通信", 7.0, 8.6, "all-reduce 桶 1"),
        ("计算", 8.6, 9.5, "step\n自己那份"), ("通信", 9.5, 10.9, "广播参数"),
    ],
    "FSDP2": [
        ("通信", 0.0, 0.8, "all-gather\n层1"), ("计算", 0.8, 2.3, "前向 层1"),
        ("通信", 0.8, 1.6, "all-gather\n层2"), ("计算", 2.3, 3.8, "前向 层2"),
        ("通信", 3.8, 4.6, "all-gather\n层2"), ("计算", 4.6, 6.1, "反向 层2"),
        ("通信", 4.6, 5.4, "all-gather\n层1"), ("通信", 6.1, 7.3, "reduce-scatter\n层2"),
        ("计算", 6.1, 7.6, "反向 层1"), ("通信", 7.6, 8.8, "reduce-scatter\n层1"),
        ("计算", 8.8, 9.7, "step\n本地分片"),
    ],
}  # fmt: skip
_LANE_COLORS = {"计算": "#8c8c8c", "通信": "#c44e52"}


def plot_timeline():
    """一步训练里计算与通信的先后（示意图，长度不按比例）：DDP、ZeRO-1、FSDP2 各一行。"""
    fig, axes = plt.subplots(3, 1, figsize=(8.0, 4.6), sharex=True)
    for ax, (strategy, blocks) in zip(axes, _TIMELINES.items()):
        for lane, start, end, text in blocks:
            y = 1 if lane == "计算" else 0
            ax.broken_barh([(start, end - start)], (y - 0.38, 0.76), facecolors=_LANE_COLORS[lane],
                           edgecolor="white", alpha=0.85)  # fmt: skip
            ax.text((start + end) / 2, y, text, ha="center", va="center", fontsize=6.5, color="white",
                    linespacing=1.0)  # fmt: skip
        ax.set_yticks([0, 1])
        ax.set_yticklabels(["通信", "计算"])
        ax.set_ylim(-0.6, 1.6)
        ax.set_title(strategy, loc="left", fontsize=10)
        ax.grid(False)
    axes[-1].set_xlabel("时间（示意，不按比例）")
    axes[-1].set_xticks([])
    fig.tight_layout()
    return fig


def plot_scaling(runs: Sequence[ScalingRun], *, base_batch: int):
    """每个优化器一幅：横轴 k（批量 = k × 基准批量），纵轴最后的训练损失；线是种子均值，竖线是最小到最大。"""
    labels = list(dict.fromkeys(r.label for r in runs))
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 3.6), sharey=True)
    axes = [axes] if len(labels) == 1 else list(axes)
    styles = {"不缩放": ("o", ":"), "平方根": ("s", "--"), "线性": ("^", "-")}
    for index, (ax, label) in enumerate(zip(axes, labels)):
        by_rule: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in runs:
            if r.label == label:
                for rule in RULES if r.k == 1 else (r.rule,):  # k=1 的点画进每条线
                    by_rule[rule][r.k].append(r.final_loss)
        for offset, rule in zip((-0.04, 0.0, 0.04), RULES):
            ks = sorted(by_rule[rule])
            finite = [[v for v in by_rule[rule][k] if math.isfinite(v)] for k in ks]
            xs = [k * 2**offset for k, f in zip(ks, finite) if f]
            mean = [sum(f) / len(f) for f in finite if f]
            low = [m - min(f) for m, f in zip(mean, (f for f in finite if f))]
            high = [max(f) - m for m, f in zip(mean, (f for f in finite if f))]
            marker, line = styles[rule]
            ax.errorbar(xs, mean, yerr=[low, high], marker=marker, linestyle=line, capsize=2,
                        color=color_for(label, index), label=rule, markersize=4)  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted({r.k for r in runs}))
        ax.set_xticklabels([f"{k}\n(批量 {k * base_batch})" for k in sorted({r.k for r in runs})])
        ax.set_xlabel("k（进程数；每个进程批量不变）")
        ax.set_title(label)
        ax.legend(title="学习率规则")
    axes[0].set_ylabel("最后一个迭代周期的训练损失")
    fig.tight_layout()
    return fig
