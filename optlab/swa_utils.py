r"""随机权重平均（SWA）与指数移动平均（EMA）工具，对应 ``torch.optim.swa_utils``。

- :class:`AveragedModel`：保存模型的一份深拷贝，并维护其参数的平均。
- ``get_*_avg_fn``：平均函数（逐张量版与 ``torch._foreach_*`` 多张量版）。
- :class:`SWALR`：把学习率退火到固定的 SWA 学习率。
- :func:`update_bn`：用数据重新估计批归一化层的统计量（running_mean / running_var）。
"""

import itertools
import math
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any, Literal

import torch
from torch import Tensor
from torch.nn import Module
from torch.nn.modules.batchnorm import _BatchNorm

from .lr_scheduler import LRScheduler
from .lr_scheduler._base import format_param
from .optimizer import bucket_by_device_and_dtype

__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]

PARAM_LIST = tuple[Tensor, ...] | list[Tensor]


def _is_float_like(tensor: Tensor) -> bool:
    return torch.is_floating_point(tensor) or torch.is_complex(tensor)


def _check_decay(decay) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )


def get_ema_multi_avg_fn(decay=0.999):
    r"""返回多张量 EMA 更新函数（原地修改平均值列表）。

    .. math:: \bar\theta \leftarrow \beta\bar\theta + (1-\beta)\theta,\quad \beta = \text{decay}
    """
    _check_decay(decay)

    @torch.no_grad()
    def ema_update(ema_param_list: PARAM_LIST, current_param_list: PARAM_LIST, _):
        if _is_float_like(ema_param_list[0]):
            # lerp 一次算完 \bar\theta + (1-\beta)(\theta - \bar\theta)，与上式等价
            torch._foreach_lerp_(ema_param_list, current_param_list, 1 - decay)
        else:
            # 整数张量不能 lerp：先按浮点计算，再截断写回
            for ema, current in zip(ema_param_list, current_param_list):
                ema.copy_(ema * decay + current * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn():
    r"""返回多张量 SWA（等权平均）更新函数（原地修改平均值列表）。

    .. math:: \bar\theta_{n+1} = \bar\theta_n + \frac{\theta - \bar\theta_n}{n+1}

    与 torch 一致：只接受浮点/复数张量，整数张量抛 ``RuntimeError``。
    """

    @torch.no_grad()
    def swa_update(
        averaged_param_list: PARAM_LIST,
        current_param_list: PARAM_LIST,
        num_averaged: Tensor | int,
    ):
        if not _is_float_like(averaged_param_list[0]):
            raise RuntimeError(
                f"get_swa_multi_avg_fn 只支持浮点或复数张量，收到 {averaged_param_list[0].dtype}"
            )
        torch._foreach_lerp_(averaged_param_list, current_param_list, 1 / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay=0.999):
    r"""返回逐张量 EMA 函数，返回新张量：$\beta\bar\theta + (1-\beta)\theta$。"""
    _check_decay(decay)

    @torch.no_grad()
    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    r"""返回逐张量 SWA 函数，返回新张量：$\bar\theta_n + (\theta - \bar\theta_n)/(n+1)$。"""

    @torch.no_grad()
    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Tensor | int):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _running_mean_(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor):
    """默认的等权平均：浮点张量走 foreach；整数张量（如 num_batches_tracked）按浮点算后截断。"""
    if _is_float_like(averaged[0]):
        get_swa_multi_avg_fn()(averaged, current, num_averaged)
        return
    swa_update = get_swa_avg_fn()
    for avg, cur in zip(averaged, current):
        avg.copy_(swa_update(avg, cur, num_averaged))


class AveragedModel(Module):
    r"""对模型参数做 SWA 或 EMA 平均的模型包装。

    构造时深拷贝 ``model``（可放到 ``device``），并注册缓冲区 ``n_averaged``（已平均的模型数）。
    每次 :meth:`update_parameters` 的第一次调用直接复制参数，之后：

    - 默认（等权，SWA）：$\bar\theta_{n+1} = \bar\theta_n + (\theta - \bar\theta_n)/(n+1)$；
    - EMA（如 ``get_ema_multi_avg_fn(decay)``）：$\bar\theta \leftarrow \beta\bar\theta + (1-\beta)\theta$。

    Args:
        model: 要平均的模型。
        device: 若给出，平均模型放在该设备上。
        avg_fn: 逐张量平均函数 ``avg_fn(平均值, 当前值, n_averaged) -> 新平均值``。
        multi_avg_fn: 多张量原地平均函数 ``multi_avg_fn(平均值列表, 当前值列表, n_averaged)``。
        use_buffers: 为 ``True`` 时缓冲区（如批归一化统计量）也参与平均；
            否则每次更新把 ``model`` 的缓冲区原样复制过来。

    ``avg_fn`` 与 ``multi_avg_fn`` 不能同时给出；两者都不进入 ``state_dict``。
    """

    n_averaged: Tensor

    def __init__(
        self,
        model: Module,
        device: int | torch.device | None = None,
        avg_fn: Callable[[Tensor, Tensor, Tensor | int], Tensor] | None = None,
        multi_avg_fn: Callable[[PARAM_LIST, PARAM_LIST, Tensor | int], None] | None = None,
        use_buffers=False,
    ) -> None:
        super().__init__()
        # 与 torch 相同用 assert，异常类型一致（AssertionError）
        assert avg_fn is None or multi_avg_fn is None, (
            "Only one of avg_fn and multi_avg_fn should be provided"
        )
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", torch.tensor(0, dtype=torch.long, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        """直接调用被平均的模型。"""
        return self.module(*args, **kwargs)

    def _averaged_tensors(self, model: Module) -> Iterable[Tensor]:
        if self.use_buffers:
            return itertools.chain(model.parameters(), model.buffers())
        return model.parameters()

    def update_parameters(self, model: Module):
        """把 ``model`` 的当前参数并入平均，然后 ``n_averaged += 1``。"""
        averaged: list[Tensor] = []
        current: list[Tensor] = []
        for avg, cur in zip(self._averaged_tensors(self.module), self._averaged_tensors(model)):
            averaged.append(avg.detach())
            current.append(cur.detach().to(avg.device))

        if self.n_averaged == 0:
            for avg, cur in zip(averaged, current):
                avg.copy_(cur)
        elif self.avg_fn is not None:
            for avg, cur in zip(averaged, current):
                avg.copy_(self.avg_fn(avg, cur, self.n_averaged.to(avg.device)))
        else:
            average_ = self.multi_avg_fn or _running_mean_
            # foreach 算子要求同一次调用内的张量同设备、同 dtype
            for avgs, curs in bucket_by_device_and_dtype(averaged, current):
                average_(avgs, curs, self.n_averaged.to(avgs[0].device))

        if not self.use_buffers:
            # 缓冲区不平均时保持与训练中的模型同步（如批归一化统计量）
            for own, theirs in zip(self.module.buffers(), model.buffers()):
                own.detach().copy_(theirs.detach().to(own.device))
        self.n_averaged += 1


@torch.no_grad()
def update_bn(
    loader: Iterable[Any],
    model: Module,
    device: int | torch.device | None = None,
) -> None:
    r"""用 ``loader`` 的一遍数据重新计算 ``model`` 中所有批归一化层的 running_mean / running_var。

    先重置统计量（running_mean 置 0、running_var 置 1），并把 momentum 设为 ``None``，
    于是统计量是所有批次的累计平均 $\mu_k = \mu_{k-1} + (x_k - \mu_{k-1})/k$。批次可以是张量，或首元素为输入的 list/tuple。
    结束后恢复各批归一化层的 momentum 和模型的训练模式；没有批归一化层时什么也不做。
    """
    momenta: dict[_BatchNorm, float | None] = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return

    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None

    for batch in loader:
        inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
        if device is not None:
            inputs = inputs.to(device)
        model(inputs)

    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    r"""把每个参数组的学习率在 ``anneal_epochs`` 步内退火到 ``swa_lr``，之后保持不变。

    记 $t = \min(1, k/\text{anneal\_epochs})$（$k$ 为已走的步数），退火系数
    $\alpha(t) = (1-\cos\pi t)/2$（``"cos"``）或 $\alpha(t) = t$（``"linear"``），则

    .. math:: \eta_k = \alpha(t)\,\eta_{\text{swa}} + (1-\alpha(t))\,\eta_{\text{start}}

    $\eta_{\text{start}}$ 由当前学习率反推得到，所以可以与别的调度器接力使用。

    Args:
        optimizer: 被包装的优化器（optlab 或 torch.optim 均可）。
        swa_lr: 所有参数组共用的 SWA 学习率，或每组一个的 list/tuple。
        anneal_epochs: 退火步数，非负整数（默认 10）。
        anneal_strategy: ``"cos"`` 或 ``"linear"``（默认 ``"cos"``）。
        last_epoch: 上一个迭代周期（即上一次 ``step``）的序号（默认 -1）。
    """

    def __init__(
        self,
        optimizer,
        swa_lr: float,
        anneal_epochs=10,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        last_epoch=-1,
    ) -> None:
        swa_lrs = format_param("swa_lr", optimizer, swa_lr)
        for group, lr in zip(optimizer.param_groups, swa_lrs, strict=True):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._anneal_strategy = anneal_strategy
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    def _set_anneal_func(self, anneal_strategy):
        if anneal_strategy == "cos":
            self.anneal_func = self._cosine_anneal
        else:
            self.anneal_func = self._linear_anneal

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        # 由 lr = α·swa_lr + (1-α)·lr_start 反解 lr_start
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _progress(self, step: int) -> float:
        return min(1.0, max(0.0, step / max(1, self.anneal_epochs)))

    def get_lr(self):
        """按退火公式计算本步各参数组的学习率。"""
        self._warn_if_called_outside_step()
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            # 不退火：第一步就直接到 swa_lr
            step = max(1, step)
        prev_alpha = self.anneal_func(self._progress(step - 1))
        alpha = self.anneal_func(self._progress(step))
        lrs = []
        for group in self.optimizer.param_groups:
            start_lr = self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
            lrs.append(group["swa_lr"] * alpha + start_lr * (1 - alpha))
        return lrs

    def state_dict(self):
        """与 torch 相同：不保存 ``anneal_func``（函数不可序列化），由 ``_anneal_strategy`` 重建。"""
        state = super().state_dict()
        state.pop("anneal_func", None)
        return state

    def load_state_dict(self, state_dict):
        """载入状态后按 ``_anneal_strategy`` 重新选择退火函数。"""
        state_dict = dict(state_dict)
        state_dict.pop("anneal_func", None)
        super().load_state_dict(state_dict)
        self._set_anneal_func(self._anneal_strategy)
