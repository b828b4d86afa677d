"""曲线图：损失随步数的变化；调度器给出的学习率（和动量）随步数的变化。"""

from __future__ import annotations

import torch

from ._base import new_figure, trajectory_color
from .contour import trajectory_label


def plot_losses(trajectories, *, ax=None, log: bool | None = None, figsize=(6, 3.6)):
    """每条轨迹的损失随步数变化，返回 ``Figure``。损失全为正时默认用对数纵轴。"""
    if ax is None:
        fig, ax = new_figure(figsize=figsize)
    else:
        fig = ax.figure
    positive = all(bool((t.losses > 0).all()) for t in trajectories)
    for i, traj in enumerate(trajectories):
        ax.plot(traj.losses.numpy(), color=trajectory_color(traj, i), label=trajectory_label(traj))
        if traj.diverged:
            ax.plot(len(traj.losses) - 1, float(traj.losses[-1]), "X", color="#d62728", ms=10, mec="black")
    if log if log is not None else positive:
        ax.set_yscale("log" if positive else "symlog")
    ax.set_xlabel("步数")
    ax.set_ylabel("损失")
    ax.set_title("损失随步数的变化")
    ax.legend(fontsize=8)
    return fig


def _default_optimizers():
    import torch.optim

    import optlab

    return [c for c in (getattr(optlab, "SGD", None), torch.optim.SGD) if c is not None]


def schedule_values(factory, steps: int = 100, *, lr: float = 0.1, optimizer=None, metric=None, **opt_kwargs):
    """按 ``factory(opt)`` 建调度器，跑 ``steps`` 步，返回 ``{"lr": [...], "momentum": [...]}``。

    ``metric``：给 ReduceLROnPlateau 这类要指标的调度器，``metric(step)`` 的返回值传给 ``step``。
    动量（SGD 的 ``momentum`` 或 Adam 类的 ``betas[0]``）被调度器改动时才会出现在结果里。
    """
    candidates = [optimizer] if optimizer is not None else _default_optimizers()
    for i, cls in enumerate(candidates):
        kwargs = dict(opt_kwargs)
        if cls.__name__ == "SGD":
            kwargs.setdefault("momentum", 0.9)
        param = torch.zeros(1, requires_grad=True)
        opt = cls([param], lr=lr, **kwargs)
        try:
            sched = factory(opt)
            break
        except TypeError:
            # torch 的调度器只认 torch.optim.Optimizer：默认先试 optlab.SGD，不行再换 torch 的
            if i == len(candidates) - 1:
                raise
    lrs, moms = [], []
    for k in range(steps):
        group = opt.param_groups[0]
        lrs.append(float(group["lr"]))
        moms.append(float(group["betas"][0] if "betas" in group else group.get("momentum", 0.0)))
        opt.step()
        if metric is not None:
            sched.step(metric(k))
        else:
            sched.step()
    out = {"lr": lrs}
    if len(set(moms)) > 1:
        out["momentum"] = moms
    return out


def plot_schedule(factory, steps: int = 100, *, lr: float = 0.1, optimizer=None, metric=None,
                  ax=None, label: str | None = None, figsize=(6, 3.2), **opt_kwargs):  # fmt: skip
    """画调度器给出的学习率曲线（动量也在变时用右侧纵轴画出），返回 ``Figure``。

    ``factory`` 形如 ``lambda opt: StepLR(opt, step_size=30)``，optlab 和 torch 的调度器都可以。
    """
    values = schedule_values(factory, steps, lr=lr, optimizer=optimizer, metric=metric, **opt_kwargs)
    if ax is None:
        fig, ax = new_figure(figsize=figsize)
    else:
        fig = ax.figure
    ax.plot(values["lr"], color="#1f77b4", label=label or "学习率")
    ax.set_xlabel("步数")
    ax.set_ylabel("学习率")
    if "momentum" in values:
        ax2 = ax.twinx()
        ax2.plot(values["momentum"], color="#ff7f0e", ls="--", label="动量")
        ax2.set_ylabel("动量")
        ax2.grid(False)
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(label or "学习率调度")
    return fig
