"""学习率调度器基类 ``LRScheduler`` 与各调度器共用的小工具。

调度器只读写优化器的 ``param_groups``；与 torch 一样，构造时要求传入的是
``torch.optim.Optimizer`` 的实例（optlab 的优化器也是，见 ``optlab.optimizer``）。
"""

from __future__ import annotations

import types
import warnings
import weakref
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["EPOCH_DEPRECATION_WARNING", "LRScheduler", "_LRScheduler"]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate schedule. "
    "See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)

_OVERRIDDEN_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
    "initialization. Please, make sure to call `optimizer.step()` before "
    "`lr_scheduler.step()`. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)

_GET_LR_WARNING = (
    "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."
)

# 与 torch 共用同一组属性名：两边的调度器挂在同一个优化器上时互相认得
_WRAPPED_MARK = "_wrapped_by_lr_sched"
_CALLED_FLAG = "_opt_called"


def check_optimizer(optimizer: Any) -> None:
    """与 torch 相同：不是 ``torch.optim.Optimizer``（optlab 的优化器也是它）就抛 TypeError。"""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def clone_if_tensor(value: Any) -> Any:
    """张量学习率要复制一份，免得与参数组里的张量共享存储。"""
    return value.clone() if isinstance(value, torch.Tensor) else value


def group_values(optimizer: Any, key: str) -> list:
    """取每个参数组的 ``group[key]``（张量则复制）。"""
    return [clone_if_tensor(group[key]) for group in optimizer.param_groups]


def set_group_value(group: dict, key: str, value: Any) -> None:
    """写回参数组：原值是张量时原地 ``fill_``，保持同一个张量对象。"""
    if isinstance(group[key], torch.Tensor):
        if isinstance(value, torch.Tensor):
            value = value.reshape(()) if value.numel() == 1 else value
        group[key].fill_(value)
    else:
        group[key] = value


def format_param(name: str, optimizer: Any, param: Any) -> list:
    """把标量或列表统一成“每个参数组一个值”的列表，长度不符抛 ValueError。"""
    count = len(optimizer.param_groups)
    if isinstance(param, (list, tuple)):
        if len(param) != count:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(param)} values, param_groups has {count}."
            )
        values = list(param)
    else:
        values = [param] * count
    return [clone_if_tensor(v) for v in values]


def own_state(scheduler: Any, *skip: str) -> dict[str, Any]:
    """调度器的全部属性，不含优化器和 ``skip`` 列出的键：各 ``state_dict`` 的共同部分。"""
    return {
        key: value
        for key, value in scheduler.__dict__.items()
        if key != "optimizer" and key not in skip
    }


def load_own_state(scheduler: Any, state_dict: dict[str, Any], key: str) -> Any:
    """载入 ``key`` 以外的属性，返回 ``state_dict[key]`` 由调用者自行还原。

    与 torch 一样先取出再放回：调用者的字典内容不变，``key`` 不会进入调度器的属性。
    """
    saved = state_dict.pop(key)
    scheduler.__dict__.update(state_dict)
    state_dict[key] = saved
    return saved


def callable_state(fn: Any) -> dict[str, Any] | None:
    """普通函数（含 lambda）无法保存，记为 None；可调用对象保存其 ``__dict__`` 的副本。"""
    return None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()


def restore_callable(fn: Any, saved: dict[str, Any] | None) -> None:
    """把 :func:`callable_state` 保存的属性写回可调用对象（None 表示没有可还原的）。"""
    if saved is not None:
        fn.__dict__.update(saved)


def set_momentum(group: dict, momentum: Any, use_beta1: bool) -> None:
    """循环动量：Adam 一类改 ``betas[0]``，SGD 一类改 ``momentum``。"""
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


def check_momentum_support(optimizer: Any) -> bool:
    """``cycle_momentum`` 需要优化器有 momentum 或 betas；返回是否用 betas[0]。"""
    defaults = getattr(optimizer, "defaults", {})
    if "momentum" not in defaults and "betas" not in defaults:
        raise ValueError(
            "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
        )
    return "betas" in defaults


def _track_step_calls(optimizer: Any) -> None:
    """包一层 ``optimizer.step``：被调用时在优化器上记一笔，用来检查调用顺序。

    包装函数只持有优化器的弱引用，避免循环引用；已经包过（无论被谁）就不再包。
    """
    step = getattr(optimizer, "step", None)
    if step is None or getattr(step, _WRAPPED_MARK, False):
        return
    opt_ref = weakref.ref(optimizer)
    if isinstance(step, types.MethodType) and step.__self__ is optimizer:
        func = step.__func__

        def wrapper(*args, **kwargs):
            opt = opt_ref()
            setattr(opt, _CALLED_FLAG, True)
            return func.__get__(opt, opt.__class__)(*args, **kwargs)
    else:

        def wrapper(*args, **kwargs):
            setattr(opt_ref(), _CALLED_FLAG, True)
            return step(*args, **kwargs)

    setattr(wrapper, _WRAPPED_MARK, True)
    optimizer.step = wrapper


@contextmanager
def get_lr_within_step(scheduler: LRScheduler):
    """标记“正在 step 内部调用 get_lr”，在外部直接调 get_lr 会得到提醒。"""
    scheduler._get_lr_called_within_step = True
    try:
        yield
    finally:
        scheduler._get_lr_called_within_step = False


@contextmanager
def initial_mode(scheduler: LRScheduler):
    """标记“构造时的第一步”：链式公式据此保持当前学习率不变。"""
    scheduler._is_initial = True
    try:
        yield
    finally:
        scheduler._is_initial = False


class LRScheduler(torch.optim.lr_scheduler.LRScheduler):
    r"""所有学习率调度器的基类。

    **类型**上继承 ``torch.optim.lr_scheduler.LRScheduler``，让 torch 与上层库
    （Lightning、transformers……）的 isinstance 检查接受 optlab 的调度器；
    torch 基类定义的每个方法这里都重新实现，从不调用 ``super()``，torch 的方法体不会运行。

    子类实现 :meth:`get_lr`（链式形式：由 :meth:`_current_lrs` 取到的当前学习率推出下一步），
    可选实现 ``_get_closed_form_lr``（闭式：直接由 ``base_lrs`` 与 ``last_epoch`` 算出）。

    构造时记录每个参数组的初始学习率 ``initial_lr``，``base_lrs`` 即它们；
    ``last_epoch=-1`` 表示从头开始，否则表示从检查点恢复，此时参数组里必须已有 ``initial_lr``。
    构造函数会先走一步（``last_epoch`` 变为 ``last_epoch + 1``）。
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", clone_if_tensor(group["lr"]))
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                        "scheduler with last_epoch >= 0.\n"
                        "This typically happens when:\n"
                        "1. You're trying to resume training from a checkpoint but haven't "
                        "properly loaded the optimizer state\n"
                        "2. You're using last_epoch >= 0 for a fresh training run (not recommended)"
                    )
        self.base_lrs = group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _track_step_calls(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        """计数清零并走构造时的第一步。"""
        self._step_count = 0
        with initial_mode(self):
            self.step()

    def state_dict(self) -> dict[str, Any]:
        """除优化器以外的全部属性。"""
        return own_state(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """恢复 :meth:`state_dict` 保存的属性。"""
        self.__dict__.update(state_dict)

    def get_last_lr(self) -> list:
        """最近一次算出的各参数组学习率（张量是写入参数组时另存的副本）。

        与 torch 相同，返回的就是调度器里存的那个列表本身。
        """
        return self._last_lr

    def get_lr(self) -> list:
        """按调度规则算出下一步的各参数组学习率；子类实现。"""
        raise NotImplementedError

    def _warn_if_called_outside_step(self, stacklevel: int = 3) -> None:
        # 默认的 stacklevel 指向调用 get_lr 的那一行（本函数由 get_lr 直接调用时）
        if not self._get_lr_called_within_step:
            warnings.warn(_GET_LR_WARNING, UserWarning, stacklevel=stacklevel)

    def _current_lrs(self) -> list:
        """链式公式的起点：各参数组当前的学习率（张量则复制）。

        在 ``step()`` 之外调用 ``get_lr()`` 时与 torch 一样提醒改用 ``get_last_lr()``。
        """
        self._warn_if_called_outside_step(stacklevel=4)
        return group_values(self.optimizer, "lr")

    def _check_call_order(self) -> None:
        # 只在用户第一次 step 时检查：此前 optimizer.step 应当已被调用过
        step = getattr(self.optimizer, "step", None)
        if step is None:
            return
        if not getattr(step, _WRAPPED_MARK, False):
            warnings.warn(_OVERRIDDEN_WARNING, UserWarning, stacklevel=3)
        elif not getattr(self.optimizer, _CALLED_FLAG, False):
            warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=3)

    def step(self, epoch: int | None = None) -> None:
        """走一步调度器；应在 ``optimizer.step()`` 之后调用。

        ``epoch`` 已弃用：给出时直接把 ``last_epoch`` 设为它，并优先用闭式。
        """
        if self._step_count == 1:
            self._check_call_order()
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        """算出新学习率并写回参数组（不计步数、不发警告，供 SequentialLR 复用）。"""
        with get_lr_within_step(self):
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        self._apply_lrs(values)

    def _apply_lrs(self, values: list) -> None:
        """把算出的学习率写回各参数组，并记下供 :meth:`get_last_lr` 返回的副本。"""
        # strict：参数组比调度器算出的学习率多（构造后又 add_param_group）时与 torch 一样报错
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            set_group_value(group, "lr", lr)
        self._last_lr = group_values(self.optimizer, "lr")


class _LRScheduler(LRScheduler):
    """旧名字，保留以兼容。"""
