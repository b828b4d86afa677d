"""公平比较用的学习率调优：二维地形上的网格搜索，手写数字上的“学习率 × 种子”扫描。

比较优化器时，每个优化器都要在**同样的预算**下各自调学习率，否则比的只是默认值选得好不好。

- :func:`tune_presets`：每个预设的学习率乘以同一组倍数（默认 ×0.1 … ×10），同样步数，
  按同一个准则挑出各自最好的倍数；
- :func:`digits_race`：手写数字上每个优化器 × 学习率网格 × 若干种子各训练一次，
  按验证集准确率的种子均值挑学习率，报告测试集准确率的均值与标准差。
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .digits import Candidate, train_epoch
from .landscapes import get_landscape
from .trajectory import Trajectory, get_preset, resolve_optimizer, run_batch

__all__ = [
    "DIGITS_ENTRIES",
    "LR_SCALES",
    "RaceEntry",
    "RaceResult",
    "TunedPreset",
    "digits_race",
    "first_below",
    "settle_step",
    "train_digits",
    "tune_presets",
]

# 相对预设学习率的倍数：约每 2–2.5 倍一档，跨两个数量级
LR_SCALES: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


# ---- 二维地形 ----


def first_below(traj: Trajectory, threshold: float = 1e-2) -> int | None:
    """损失第一次低于 ``threshold`` 的步数；从未低于（或已发散）时为 ``None``。"""
    hits = (traj.losses < threshold).nonzero()
    return int(hits[0, 0]) if len(hits) else None


def settle_step(traj: Trajectory, threshold: float = 1e-2) -> int | None:
    """从这一步起损失**一直**低于 ``threshold``；最后一步仍不低于（或已发散）时为 ``None``。

    与 :func:`first_below` 不同，它不奖励“路过极小值又离开”的轨迹。
    """
    if traj.diverged:
        return None
    above = (traj.losses >= threshold).nonzero()
    if len(above) == 0:
        return 0
    k = int(above[-1, 0]) + 1
    return k if k < len(traj.losses) else None


def _distance_to_minimum(traj: Trajectory) -> float:
    land = get_landscape(traj.landscape)
    end = traj.path[-1]
    return min(math.dist(end.tolist(), m) for m in land.minima)


def _score(traj: Trajectory, criterion: str, threshold: float) -> tuple:
    """越小越好。发散的轨迹排在最后。"""
    if traj.diverged:
        return (2, math.inf)
    if criterion == "settle":
        k = settle_step(traj, threshold)
        return (0, k) if k is not None else (1, float(traj.losses[-1]))
    if criterion == "distance":
        return (0, _distance_to_minimum(traj))
    if criterion == "loss":
        return (0, float(traj.losses[-1]))
    raise ValueError(f"未知的准则 {criterion!r}；可选：settle、distance、loss")


@dataclass
class TunedPreset:
    """一个预设在学习率网格上的全部轨迹与选中的那一条。"""

    label: str
    scales: tuple[float, ...]
    runs: list[Trajectory]
    criterion: str
    threshold: float
    best_index: int

    @property
    def best(self) -> Trajectory:
        return self.runs[self.best_index]

    @property
    def best_scale(self) -> float:
        return self.scales[self.best_index]

    @property
    def best_lr(self) -> float:
        return float(self.best.options["lr"])

    @property
    def at_edge(self) -> bool:
        """选中的是网格的端点（且不是因为全都失败）：说明网格可能不够宽。"""
        return self.best_index in (0, len(self.scales) - 1)

    def score_text(self) -> str:
        traj = self.best
        if traj.diverged:
            return "全部发散"
        if self.criterion == "settle":
            k = settle_step(traj, self.threshold)
            return f"{k} 步" if k is not None else "未达到"
        if self.criterion == "distance":
            return f"{_distance_to_minimum(traj):.2g}"
        return f"{float(traj.losses[-1]):.2g}"


def tune_presets(
    landscape,
    names: Sequence[str],
    scales: Sequence[float] = LR_SCALES,
    *,
    steps: int = 300,
    criterion: str = "settle",
    threshold: float = 1e-2,
    start=None,
    resolver=None,
) -> list[TunedPreset]:
    """每个预设在“预设学习率 × ``scales``”上各跑 ``steps`` 步，按同一准则挑最好的倍数。

    准则（越小越好，发散最差）：

    - ``"settle"``：损失从第几步起一直低于 ``threshold``；都达不到时比最终损失；
    - ``"distance"``：终点到最近极小值的距离（pytorch-optimizer 的地形图用它调学习率）；
    - ``"loss"``：最终损失。
    """
    land = get_landscape(landscape)
    resolve = resolver or resolve_optimizer
    scales = tuple(float(s) for s in scales)
    out = []
    for name in names:
        preset = get_preset(name)
        base = preset.lr_for(land)
        runs = run_batch(land, resolve(preset.optimizer), None if start is None else [start],
                         lrs=[base * s for s in scales], steps=steps, color=preset.color,
                         **preset.options)  # fmt: skip
        for traj in runs:
            traj.label = name
        scores = [_score(t, criterion, threshold) for t in runs]
        best = min(range(len(runs)), key=lambda i: (scores[i], i))
        out.append(TunedPreset(name, scales, runs, criterion, threshold, best))
    return out


# ---- 手写数字：学习率 × 种子 ----


@dataclass(frozen=True)
class RaceEntry(Candidate):
    """一个参赛的优化器（见 :class:`optlab.lab.digits.Candidate`），比赛里 Muon 的偏置与权重同一个学习率。

    - Muon 只接受矩阵参数：权重交给 Muon，偏置交给 AdamW，两者用**同一个**（被扫描的）学习率；
    - ASGD 的 ``t0`` 是开始取平均的步数；评估时用平均后的参数 ``ax``（这才是 ASGD 的输出）。
    """

    rest_lr: float | None = None


def _grid(center: float) -> tuple[float, ...]:
    """以 ``center`` 为中心、相邻两档相差 √10 倍的 5 个学习率（跨两个数量级）。"""
    return tuple(float(f"{center * 10 ** (k / 2):.3g}") for k in (-2, -1, 0, 1, 2))


# 每个网格的中心来自一次更宽的预扫描；5 档学习率，相邻两档相差约 3.16 倍
DIGITS_ENTRIES: tuple[RaceEntry, ...] = (
    RaceEntry("SGD", "SGD", {}, _grid(0.3)),
    RaceEntry("动量", "SGD", {"momentum": 0.9}, _grid(0.03)),
    RaceEntry("Nesterov", "SGD", {"momentum": 0.9, "nesterov": True}, _grid(0.03)),
    RaceEntry("Adagrad", "Adagrad", {}, _grid(0.03)),
    RaceEntry("Adadelta", "Adadelta", {}, _grid(3.0)),
    RaceEntry("RMSprop", "RMSprop", {}, _grid(0.003)),
    RaceEntry("Adam", "Adam", {}, _grid(0.01)),
    RaceEntry("AdamW", "AdamW", {"weight_decay": 0.01}, _grid(0.01)),
    RaceEntry("Adamax", "Adamax", {}, _grid(0.03)),
    RaceEntry("NAdam", "NAdam", {}, _grid(0.01)),
    RaceEntry("RAdam", "RAdam", {}, _grid(0.03)),
    RaceEntry("ASGD", "ASGD", {"t0": 54}, _grid(0.3)),
    RaceEntry("Adafactor", "Adafactor", {}, _grid(0.3)),
    RaceEntry("Muon", "Muon", {}, _grid(0.03)),
)  # fmt: skip


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).double().mean().item()


class _averaged:
    """ASGD：评估时把参数临时换成平均值 ``ax``（还没开始平均时 ``ax`` 就是参数本身）。"""

    def __init__(self, opts: list):
        self.pairs = [
            (p, st["ax"]) for opt in opts if type(opt).__name__ == "ASGD"
            for p, st in opt.state.items() if "ax" in st
        ]  # fmt: skip
        self.saved: list[Tensor] = []

    def __enter__(self):
        with torch.no_grad():
            for p, ax in self.pairs:
                self.saved.append(p.detach().clone())
                p.copy_(ax)

    def __exit__(self, *exc):
        with torch.no_grad():
            for (p, _), old in zip(self.pairs, self.saved):
                p.copy_(old)


@dataclass
class DigitsRun:
    label: str
    lr: float
    seed: int
    train_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    diverged: bool = False
    steps: int = 0

    @property
    def final_val(self) -> float:
        return 0.0 if self.diverged or not self.val_acc else self.val_acc[-1]

    @property
    def final_test(self) -> float:
        return 0.0 if self.diverged or not self.test_acc else self.test_acc[-1]


def train_digits(entry: RaceEntry, data, lr: float, *, seed: int = 0, epochs: int = 12,
                 batch_size: int = 128, resolver=None) -> DigitsRun:  # fmt: skip
    """用小批量训练一个新的 64→64→10 网络；``seed`` 决定初始权重和每个迭代周期的批次顺序。"""
    from .digits import make_model

    model = make_model(seed=seed, dtype=data.x_train.dtype)
    opts = entry.build(model, lr, resolver)
    gen = torch.Generator().manual_seed(seed)
    run = DigitsRun(entry.label, lr, seed)
    for _ in range(epochs):
        mean_loss, steps = train_epoch(model, opts, data, batch_size, gen)
        run.steps += steps
        if not math.isfinite(mean_loss) or mean_loss > 1e3:
            run.diverged = True
            break
        run.train_loss.append(mean_loss)
        with _averaged(opts):
            run.val_acc.append(_accuracy(model, data.x_val, data.y_val))
            run.test_acc.append(_accuracy(model, data.x_test, data.y_test))
    return run


@dataclass
class RaceResult:
    """``runs[i][j][s]``：第 i 个参赛者、第 j 个学习率、第 s 个种子。"""

    entries: tuple[RaceEntry, ...]
    seeds: tuple[int, ...]
    runs: list[list[list[DigitsRun]]]

    def val_mean(self, i: int) -> list[float]:
        return [sum(r.final_val for r in row) / len(row) for row in self.runs[i]]

    def best_index(self, i: int) -> int:
        """验证集准确率（种子均值）最高的学习率；并列时取较小的学习率。"""
        means = self.val_mean(i)
        return max(range(len(means)), key=lambda j: (means[j], -j))

    def best_runs(self, i: int) -> list[DigitsRun]:
        return self.runs[i][self.best_index(i)]

    def best_lr(self, i: int) -> float:
        return self.entries[i].lrs[self.best_index(i)]

    def at_edge(self, i: int) -> bool:
        return self.best_index(i) in (0, len(self.entries[i].lrs) - 1)

    def test_stats(self, i: int) -> tuple[float, float]:
        """选中学习率下测试集准确率的种子均值与（样本）标准差。"""
        acc = torch.tensor([r.final_test for r in self.best_runs(i)], dtype=torch.float64)
        return float(acc.mean()), float(acc.std()) if len(acc) > 1 else 0.0

    @property
    def steps(self) -> int:
        return self.runs[0][0][0].steps


def digits_race(entries: Sequence[RaceEntry], data, *, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                epochs: int = 12, batch_size: int = 128, resolver=None) -> RaceResult:  # fmt: skip
    """每个参赛者 × 每个学习率 × 每个种子各训练一次。"""
    kwargs = {"epochs": epochs, "batch_size": batch_size, "resolver": resolver}
    runs = [
        [[train_digits(e, data, lr, seed=s, **kwargs) for s in seeds] for lr in e.lrs]
        for e in entries
    ]
    return RaceResult(tuple(entries), tuple(seeds), runs)
