"""手写数字（scikit-learn digits）上的小型训练对比：数据、模型、训练循环与学习率扫描。

供“优化器比较”一章使用：每个候选优化器在一小组学习率上训练同一个小网络，
按验证集准确率挑出最好的学习率，再报告它在测试集上的成绩（测试集不参与挑选）。
数据随 scikit-learn 安装，不需要网络。
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .resolve import resolve_optimizer

__all__ = [
    "CANDIDATES",
    "Candidate",
    "DigitsData",
    "History",
    "SweepResult",
    "load_digits_data",
    "make_model",
    "sweep",
    "train",
    "train_epoch",
]


@dataclass(frozen=True)
class DigitsData:
    """标准化后的 8×8 图像（展平成 64 维）与标签，分成训练、验证、测试三份。"""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor

    def sizes(self) -> tuple[int, int, int]:
        return len(self.y_train), len(self.y_val), len(self.y_test)


def load_digits_data(*, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.25,
                     dtype: torch.dtype = torch.float64) -> DigitsData:  # fmt: skip
    """读入 1797 张手写数字，按固定种子打乱后切分；只用训练集的均值和标准差做标准化。"""
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.as_tensor(raw.data, dtype=dtype)
    y = torch.as_tensor(raw.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    n_test = round(len(y) * test_fraction)
    n_val = round((len(y) - n_test) * val_fraction)
    n_train = len(y) - n_test - n_val
    mean = x[:n_train].mean(0)
    std = x[:n_train].std(0).clamp_min(1e-3)  # 边角像素恒为 0，避免除以 0
    x = (x - mean) / std
    cuts = (n_train, n_train + n_val)
    return DigitsData(x[: cuts[0]], y[: cuts[0]], x[cuts[0] : cuts[1]], y[cuts[0] : cuts[1]],
                      x[cuts[1] :], y[cuts[1] :])  # fmt: skip


def make_model(hidden: int = 64, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> nn.Module:
    """64 → hidden → 10 的两层感知机；同一个种子给每个优化器完全相同的初始权重。"""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(dtype)


@dataclass
class History:
    """每个 epoch 末的训练损失、验证/测试准确率；发散时记下 epoch 并提前停止。"""

    label: str
    lr: float
    train_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    diverged_at: int | None = None

    @property
    def final_val(self) -> float:
        return self.val_acc[-1] if self.val_acc and self.diverged_at is None else 0.0

    @property
    def final_test(self) -> float:
        return self.test_acc[-1] if self.test_acc and self.diverged_at is None else 0.0


@dataclass(frozen=True)
class Candidate:
    """一个参赛的优化器：名字、固定选项和要扫描的学习率。

    Muon 只接受矩阵参数：权重交给 Muon，其余（偏置）交给 AdamW（这是 Muon 的常规用法），
    AdamW 的学习率是 ``rest_lr``；``rest_lr=None`` 时与 Muon 用同一个（被扫描的）学习率。
    """

    label: str
    optimizer: str
    options: dict[str, Any]
    lrs: tuple[float, ...]
    rest_lr: float | None = 1e-3

    def build(self, model: nn.Module, lr: float, resolver=None) -> list:
        resolve = resolver or resolve_optimizer
        cls = resolve(self.optimizer)
        if self.optimizer == "Muon":
            mats = [p for p in model.parameters() if p.ndim == 2]
            rest = [p for p in model.parameters() if p.ndim != 2]
            rest_lr = lr if self.rest_lr is None else self.rest_lr
            return [cls(mats, lr=lr, **self.options), resolve("AdamW")(rest, lr=rest_lr)]
        return [cls(model.parameters(), lr=lr, **self.options)]


# Rprop、LBFGS 为全批量设计，SparseAdam 只接受稀疏梯度：不参加小批量比赛
CANDIDATES: tuple[Candidate, ...] = (
    Candidate("SGD", "SGD", {}, (0.1, 0.3, 1.0)),
    Candidate("动量", "SGD", {"momentum": 0.9}, (0.01, 0.03, 0.1)),
    Candidate("Nesterov", "SGD", {"momentum": 0.9, "nesterov": True}, (0.01, 0.03, 0.1)),
    Candidate("Adagrad", "Adagrad", {}, (0.03, 0.1, 0.3)),
    Candidate("Adadelta", "Adadelta", {}, (1.0, 3.0, 10.0)),
    Candidate("RMSprop", "RMSprop", {}, (1e-3, 3e-3, 1e-2)),
    Candidate("Adam", "Adam", {}, (3e-3, 1e-2, 3e-2)),
    Candidate("AdamW", "AdamW", {"weight_decay": 0.01}, (3e-3, 1e-2, 3e-2)),
    Candidate("Adamax", "Adamax", {}, (1e-2, 3e-2, 1e-1)),
    Candidate("NAdam", "NAdam", {}, (3e-3, 1e-2, 3e-2)),
    Candidate("RAdam", "RAdam", {}, (3e-3, 1e-2, 3e-2)),
    Candidate("ASGD", "ASGD", {}, (0.1, 0.3, 1.0)),
    Candidate("Adafactor", "Adafactor", {}, (1e-2, 3e-2, 1e-1)),
    Candidate("Muon", "Muon", {}, (1e-2, 3e-2, 1e-1)),
)  # fmt: skip


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).double().mean().item()


def train_epoch(model: nn.Module, opts: list, data: DigitsData, batch_size: int,
                gen: torch.Generator) -> tuple[float, int]:  # fmt: skip
    """按 ``gen`` 打乱训练集，小批量走一轮（一个迭代周期）；返回 (平均训练损失, 步数)。"""
    loss_fn = nn.CrossEntropyLoss()
    n = len(data.y_train)
    order = torch.randperm(n, generator=gen)
    total, steps = 0.0, 0
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        for opt in opts:
            opt.zero_grad()
        loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
        loss.backward()
        for opt in opts:
            opt.step()
        total += loss.item() * len(idx)
        steps += 1
    return total / n, steps


def train(candidate: Candidate, data: DigitsData, lr: float, *, epochs: int = 12, batch_size: int = 128,
          seed: int = 0, resolver=None) -> History:  # fmt: skip
    """用小批量训练一个新模型；每个 epoch 的打乱顺序由 ``seed`` 决定，各优化器看到相同的批次。"""
    model = make_model(seed=seed, dtype=data.x_train.dtype)
    opts = candidate.build(model, lr, resolver)
    gen = torch.Generator().manual_seed(seed)
    hist = History(candidate.label, lr)
    for epoch in range(1, epochs + 1):
        mean_loss, _ = train_epoch(model, opts, data, batch_size, gen)
        if not math.isfinite(mean_loss) or mean_loss > 1e3:
            hist.diverged_at = epoch
            break
        hist.train_loss.append(mean_loss)
        hist.val_acc.append(_accuracy(model, data.x_val, data.y_val))
        hist.test_acc.append(_accuracy(model, data.x_test, data.y_test))
    return hist


@dataclass
class SweepResult:
    """一个候选的全部学习率结果；``best`` 按验证集准确率挑选（平手时取训练损失更低者）。"""

    candidate: Candidate
    runs: list[History]

    @property
    def best(self) -> History:
        def key(h: History):
            loss = h.train_loss[-1] if h.train_loss and h.diverged_at is None else math.inf
            return (-h.final_val, loss)

        return min(self.runs, key=key)


def sweep(candidates: Sequence[Candidate], data: DigitsData, *, epochs: int = 12, batch_size: int = 128,
          seed: int = 0, resolver=None) -> list[SweepResult]:  # fmt: skip
    """每个候选在它的每个学习率上各训练一次。"""
    kwargs = {"epochs": epochs, "batch_size": batch_size, "seed": seed, "resolver": resolver}
    return [SweepResult(c, [train(c, data, lr, **kwargs) for lr in c.lrs]) for c in candidates]
