"""在二维地形上运行任意优化器，记录轨迹。

逐元素的算法（SGD、Adam……）把 B 个起点放进一个 ``[B, 2]`` 参数里一次跑完：
总损失是各点损失之和，所以每一行得到的正是该起点单独运行的轨迹；
不同学习率用不同的参数组。LBFGS、Adafactor、Muon 会让各点互相影响，只能逐个运行。
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .landscapes import Landscape, get_landscape
from .resolve import resolve_optimizer

__all__ = [
    "ELEMENTWISE",
    "PRESETS",
    "Preset",
    "Trajectory",
    "preset_names",
    "resolve_optimizer",
    "run_batch",
    "run_presets",
    "run_trajectory",
]

# 更新只依赖本元素的梯度/状态（标量系数对所有元素相同），可以放心批量运行
ELEMENTWISE = frozenset(
    {"SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD"}
)  # fmt: skip

# 坐标超出窗口尺度这么多倍就算发散：不必等到真正溢出成 inf
DIVERGENCE_FACTOR = 1e6


@dataclass
class Trajectory:
    """一条轨迹。``path`` 只保留有限的前缀；发散时 ``diverged_at`` 是第一次发散的步数。"""

    label: str
    landscape: str
    optimizer: str
    options: dict[str, Any]
    start: tuple[float, float]
    path: Tensor  # [n+1, 2]
    losses: Tensor  # [n+1]，path 各点处的函数值
    steps: int
    diverged_at: int | None = None
    color: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def end(self) -> tuple[float, float]:
        return tuple(self.path[-1].tolist())

    @property
    def status(self) -> str:
        if self.diverged:
            return f"在第 {self.diverged_at} 步发散（学习率过大？），只保留之前的 {len(self.path)} 个点"
        return f"运行 {self.steps} 步，终点 ({self.end[0]:.4g}, {self.end[1]:.4g})，损失 {float(self.losses[-1]):.4g}"

    def __repr__(self) -> str:
        return f"Trajectory({self.label}：{self.status})"


# ---- 优化器解析 ----


def _name_of(cls) -> str:
    return getattr(cls, "__name__", type(cls).__name__)


def _check_name(name: str) -> None:
    if name == "SparseAdam":
        raise ValueError("SparseAdam 只接受稀疏梯度（如 nn.Embedding(sparse=True)），二维地形上的稠密梯度无法使用它")


def _param_shape(name: str) -> tuple[int, ...]:
    # Muon 只接受矩阵：把点看成 1×2 矩阵，正交化后的更新就是“只保留方向、长度归一”的梯度动量
    return (1, 2) if name == "Muon" else (2,)


def _check_lr(lr) -> None:
    if lr is not None and not float(lr) > 0:
        raise ValueError(f"学习率必须为正数，收到 {float(lr)!r}")


def _starts_tensor(land: Landscape, starts, dtype) -> Tensor:
    if starts is None:
        starts = [land.start]
    pts = torch.as_tensor(starts, dtype=dtype).reshape(-1, 2)
    for x, y in pts.tolist():
        if not land.contains((x, y)):
            raise ValueError(
                f"起点 ({x:g}, {y:g}) 不在 {land.title} 的窗口 x∈{list(land.xlim)}、y∈{list(land.ylim)} 内"
            )
    return pts


# ---- 运行 ----


def _bad_mask(land: Landscape, path: Tensor, losses: Tensor) -> Tensor:
    bound = DIVERGENCE_FACTOR * max(land.xlim[1] - land.xlim[0], land.ylim[1] - land.ylim[0])
    finite = torch.isfinite(path).all(-1) & torch.isfinite(losses)
    return ~finite | (path.abs() > bound).any(-1)


def _finish(land, cls, options, label, start, path, steps, color) -> Trajectory:
    """path: [steps+1, 2]，截掉发散之后的部分。"""
    with torch.no_grad():
        losses = land(path)
        bad = _bad_mask(land, path, losses)
    diverged_at = None
    if bool(bad.any()):
        diverged_at = int(bad.nonzero()[0, 0])
        path, losses = path[:diverged_at], losses[:diverged_at]
    return Trajectory(
        label=label,
        landscape=land.name,
        optimizer=_name_of(cls),
        options=dict(options),
        start=start,
        path=path,
        losses=losses,
        steps=steps,
        diverged_at=diverged_at,
        color=color,
    )


def _run_batched(land, cls, starts: Tensor, groups: list[dict], steps, options) -> list[Tensor]:
    """每个参数组一份起点 [S, 2]；返回每组的记录 [steps+1, S, 2]。"""
    params = [starts.clone() for _ in groups]
    opt = cls([{"params": [p], **g} for p, g in zip(params, groups)], **options)
    record = torch.empty(steps + 1, len(params), *starts.shape, dtype=starts.dtype)
    record[0] = starts
    with torch.no_grad():
        for k in range(1, steps + 1):
            for p in params:
                p.grad = land.grad(p)
            opt.step()
            torch.stack(params, out=record[k])
    return list(record.unbind(1))


def _run_single(land, cls, start: Tensor, lr, steps, options) -> Tensor:
    """逐点运行（带闭包，LBFGS 等需要）；发散即停，其余位置填 nan。"""
    name = _name_of(cls)
    p = start.clone().reshape(_param_shape(name))
    group = {"params": [p], **({} if lr is None else {"lr": lr})}
    opt = cls([group], **options)

    def closure():
        # LBFGS 一步内会多次调用闭包；我们只在每步结束时记录一个点
        with torch.no_grad():
            p.grad = land.grad(p)
            return land(p.reshape(-1, 2)).sum()

    record = torch.full((steps + 1, 2), float("nan"), dtype=start.dtype)
    record[0] = start
    for k in range(1, steps + 1):
        opt.step(closure)
        with torch.no_grad():
            record[k] = p.detach().reshape(2)
            if bool(_bad_mask(land, record[k], land(record[k]))):
                break
    return record


def run_batch(
    landscape,
    optimizer,
    starts=None,
    lrs: Sequence[float] | None = None,
    steps: int = 100,
    *,
    label: str | None = None,
    color: str | None = None,
    dtype: torch.dtype = torch.float64,
    **options,
) -> list[Trajectory]:
    """从多个起点、用多个学习率运行同一个优化器。

    返回的列表按“学习率在外、起点在内”排列；``options`` 原样传给优化器
    （``lr`` 也可以放在 ``options`` 里）。逐元素的算法一次批量跑完，其余逐个运行。
    """
    land = get_landscape(landscape)
    cls = resolve_optimizer(optimizer)
    name = _name_of(cls)
    _check_name(name)
    if steps < 0:
        raise ValueError(f"步数必须是非负整数，收到 {steps!r}")
    if lrs is None:
        lrs = [options.pop("lr", None)]
    elif "lr" in options:
        raise ValueError("lrs 与 lr 只能给一个")
    for lr in lrs:
        _check_lr(lr)
    pts = _starts_tensor(land, starts, dtype)
    base = label or name

    if name in ELEMENTWISE:
        groups = [{} if lr is None else {"lr": lr} for lr in lrs]
        paths = _run_batched(land, cls, pts, groups, steps, options)
        columns = [path[:, i] for path in paths for i in range(len(pts))]
    else:
        columns = [_run_single(land, cls, s, lr, steps, options) for lr in lrs for s in pts]

    out = []
    for i, path in enumerate(columns):
        lr = lrs[i // len(pts)]
        opts = dict(options) if lr is None else {"lr": lr, **options}
        tag = base if len(lrs) == 1 else f"{base} lr={lr:g}"
        start = tuple(pts[i % len(pts)].tolist())
        out.append(_finish(land, cls, opts, tag, start, path, steps, color))
    return out


def run_trajectory(landscape, optimizer, start=None, steps: int = 100, **kwargs) -> Trajectory:
    """从一个起点运行一条轨迹（默认起点取地形的 ``start``）。"""
    return run_batch(landscape, optimizer, None if start is None else [start], steps=steps, **kwargs)[0]


# ---- 教材里统一使用的预设：同一个优化器在全书里颜色一致 ----


@dataclass(frozen=True)
class Preset:
    """``lr_kind``：学习率取地形的 ``sgd_lr``（梯度型）还是 ``step_size``（步长型）；再乘 ``lr_scale``。"""

    label: str
    optimizer: str
    options: dict[str, Any]
    color: str
    lr_kind: str = "step"
    lr_scale: float = 1.0

    def lr_for(self, land: Landscape) -> float:
        base = land.sgd_lr if self.lr_kind == "sgd" else land.step_size
        return base * self.lr_scale


PRESETS: dict[str, Preset] = {
    p.label: p
    for p in (
        Preset("SGD", "SGD", {}, "#1f77b4", "sgd"),
        Preset("动量", "SGD", {"momentum": 0.9}, "#ff7f0e", "sgd", 0.1),
        Preset("Nesterov", "SGD", {"momentum": 0.9, "nesterov": True}, "#8c564b", "sgd", 0.1),
        Preset("Adagrad", "Adagrad", {}, "#2ca02c", "step", 5.0),
        Preset("Adadelta", "Adadelta", {}, "#bcbd22", "step", 200.0),
        Preset("RMSprop", "RMSprop", {}, "#9467bd", "step", 0.5),
        Preset("Adam", "Adam", {}, "#d62728", "step"),
        Preset("AdamW", "AdamW", {"weight_decay": 0.01}, "#e377c2", "step"),
        Preset("Adamax", "Adamax", {}, "#17becf", "step"),
        Preset("NAdam", "NAdam", {}, "#7f7f7f", "step"),
        Preset("RAdam", "RAdam", {}, "#aec7e8", "step"),
        Preset("Rprop", "Rprop", {}, "#98df8a", "step", 0.5),
        Preset("ASGD", "ASGD", {}, "#ffbb78", "sgd"),
        Preset("LBFGS", "LBFGS", {"line_search_fn": "strong_wolfe"}, "#000000", "step", 1.0),
    )
}  # fmt: skip

# LBFGS 自带线搜索，学习率固定为 1；它的“一步”内部最多迭代 max_iter（默认 20）次
_FIXED_LR = {"LBFGS": 1.0}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"未知的预设 {name!r}；可选：{'、'.join(PRESETS)}") from None


def run_presets(
    landscape,
    names: Sequence[str] | None = None,
    start=None,
    steps: int = 100,
    *,
    lr_scale: float = 1.0,
    overrides: dict[str, dict[str, Any]] | None = None,
    resolver=None,
) -> list[Trajectory]:
    """用教材预设在一个地形上各跑一条轨迹。

    ``resolver``：把优化器名字变成类的函数（默认在 ``optlab`` 里找）；
    ``overrides``：按预设名覆盖选项，例如 ``{"Adam": {"lr": 0.3}}``。
    """
    land = get_landscape(landscape)
    names = list(names) if names is not None else [n for n in PRESETS if n != "LBFGS"]
    resolve = resolver or resolve_optimizer
    jobs = []
    for n in names:
        preset = get_preset(n)
        opts = dict(preset.options)
        opts["lr"] = _FIXED_LR.get(preset.optimizer, preset.lr_for(land) * lr_scale)
        opts.update((overrides or {}).get(n, {}))
        _check_lr(opts["lr"])
        jobs.append((n, preset, resolve(preset.optimizer), opts))
    pts = _starts_tensor(land, None if start is None else [start], torch.float64)

    # 同一个逐元素算法的几个预设（如 SGD、动量、Nesterov）合成一个优化器、各占一个参数组：
    # 结果与分别运行相同，但 step() 调用次数少得多（交互控件的速度瓶颈）
    results: dict[str, Trajectory] = {}
    by_class: dict[type, list] = {}
    for job in jobs:
        if _name_of(job[2]) in ELEMENTWISE:
            by_class.setdefault(job[2], []).append(job)
        else:
            results[job[0]] = run_batch(land, job[2], pts, steps=steps, label=job[0],
                                        color=job[1].color, **job[3])[0]  # fmt: skip
    for cls, group_jobs in by_class.items():
        paths = _run_batched(land, cls, pts, [j[3] for j in group_jobs], steps, {})
        for (n, preset, _, opts), path in zip(group_jobs, paths):
            results[n] = _finish(land, cls, opts, n, tuple(pts[0].tolist()), path[:, 0], steps, preset.color)
    return [results[n] for n in names]
