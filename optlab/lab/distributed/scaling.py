"""学习率随批量放大：线性规则与平方根规则的小实验（手写数字，单进程模拟 k 个进程）。

k 个进程、每个进程批量 b 的 DDP，一步与单进程批量 k·b 的一步相同（梯度取平均），
所以这里用单进程、批量 k·b 来模拟 k 个进程，省下启动进程的时间。训练预算按迭代周期固定：
批量越大，步数越少。
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..digits import Candidate, DigitsData, train

__all__ = ["RULES", "ScalingRun", "scaled_lr", "scaling_demo", "tune_base_lr"]

RULES = ("不缩放", "平方根", "线性")


def scaled_lr(base_lr: float, k: int, rule: str) -> float:
    """批量放大 k 倍时的学习率：不缩放 γ、平方根 γ·√k、线性 γ·k。"""
    factor = {"不缩放": 1.0, "平方根": math.sqrt(k), "线性": float(k)}[rule]
    return base_lr * factor


@dataclass(frozen=True)
class ScalingRun:
    """一次训练：优化器、k、规则、学习率、种子，以及最后一个迭代周期的平均训练损失（发散为 inf）。"""

    label: str
    k: int
    rule: str
    lr: float
    seed: int
    final_loss: float


_CACHE: dict[tuple, float] = {}


def _final_loss(candidate: Candidate, data: DigitsData, lr: float, batch_size: int, epochs: int,
                seed: int) -> float:  # fmt: skip
    key = (repr(candidate), id(data), lr, batch_size, epochs, seed)  # 调学习率时跑过的不必再跑
    if key not in _CACHE:
        hist = train(candidate, data, lr, epochs=epochs, batch_size=batch_size, seed=seed)
        _CACHE[key] = math.inf if hist.diverged_at is not None else hist.train_loss[-1]
    return _CACHE[key]


def tune_base_lr(candidate: Candidate, data: DigitsData, *, batch_size: int, epochs: int,
                 seed: int = 0) -> float:  # fmt: skip
    """在 ``candidate.lrs`` 里挑出小批量（k=1）下最后训练损失最低的学习率（只用一个种子）。"""
    losses = {lr: _final_loss(candidate, data, lr, batch_size, epochs, seed) for lr in candidate.lrs}
    return min(losses, key=losses.get)


def scaling_demo(candidates: Sequence[Candidate], data: DigitsData, *, base_batch: int = 16,
                 ks: Sequence[int] = (1, 2, 4, 8, 16), epochs: int = 10,
                 seeds: Sequence[int] = (0, 1, 2)) -> tuple[dict[str, float], list[ScalingRun]]:  # fmt: skip
    """每个优化器：先在 k=1 上调好基准学习率，再对每个 k、每条规则、每个种子训练一次。"""
    torch.set_num_threads(1)
    base_lrs = {c.label: tune_base_lr(c, data, batch_size=base_batch, epochs=epochs) for c in candidates}
    runs = []
    for c in candidates:
        for k in ks:
            for rule in RULES if k > 1 else RULES[:1]:  # k=1 时三条规则是同一个学习率
                lr = scaled_lr(base_lrs[c.label], k, rule)
                for seed in seeds:
                    loss = _final_loss(c, data, lr, base_batch * k, epochs, seed)
                    runs.append(ScalingRun(c.label, k, rule, lr, seed, loss))
    return base_lrs, runs
