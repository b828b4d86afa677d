"""优化器基类 ``Optimizer``：参数组、状态、step/闭包、state_dict 与钩子。

算法子类只需要写三样东西：

* ``__init__``：校验超参数（用 ``optlab._checks`` 里的函数），把默认值交给基类；
* ``init_state(group, param)``：第一次遇到某个参数时建立它的状态；
* ``update(group, params, grads, states)`` 以及可选的 ``update_foreach(...)``：算法本身。

其余的公共机制——收集有梯度的参数、惰性建状态、``maximize`` 取负、复数参数视为实数、
按设备与 dtype 分桶走 foreach 路径、state_dict 的打包与恢复、钩子——都只在这里写一次。
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from copy import deepcopy
from itertools import chain
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from ._checks import check_fused_params
from ._fused import fused_update

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """标记“必须由参数组给出”的超参数（例如没有默认值的 lr）。"""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

_FOREACH_DEVICES = ("cuda", "xpu")
_CAPTURABLE_DEVICES = ("cuda", "xpu", "hpu")


def scalar_dtype() -> torch.dtype:
    """``step`` 计数器的 dtype：与 torch 一致，默认 dtype 为 float64 时用 float64。"""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def default_foreach(params: list[torch.Tensor], differentiable: bool) -> bool:
    """``foreach=None`` 时的选择：只有全部参数都在 GPU 上且不求导时才用多张量路径。"""
    if differentiable:
        return False
    return all(
        type(p) in (torch.Tensor, torch.nn.Parameter) and p.device.type in _FOREACH_DEVICES
        for p in params
    )


def _as_real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t) if torch.is_complex(t) else t


def _run_step_with_hooks(step: Callable) -> Callable:
    """包装子类的 ``step``：前后运行 step 钩子。"""

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # 与 torch 相同：钩子看到的 args 含 self，替换后的 args 也必须含 self
        self = args[0]
        for hook in chain(_global_step_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{step} must return None or a tuple of (new_args, new_kwargs), but got {result}."
                    )
                args, kwargs = result
        out = step(*args, **kwargs)
        for hook in chain(
            self._optimizer_step_post_hooks.values(), _global_step_post_hooks.values()
        ):
            hook(self, args, kwargs)
        return out

    wrapper._optlab_hooked = True  # type: ignore[attr-defined]
    return wrapper


_global_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
_global_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """对所有 optlab 优化器生效的 step 前置钩子。"""
    handle = RemovableHandle(_global_step_pre_hooks)
    _global_step_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """对所有 optlab 优化器生效的 step 后置钩子。"""
    handle = RemovableHandle(_global_step_post_hooks)
    _global_step_post_hooks[handle.id] = hook
    return handle


class Optimizer:
    """所有优化器的基类，公开行为与 ``torch.optim.Optimizer`` 相同。"""

    #: 为 True 时，复数参数（及其梯度、状态）以 ``view_as_real`` 的实数视图交给算法。
    complex_as_real: bool = True
    #: 是否接受稀疏梯度。
    supports_sparse_grad: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_optlab_hooked", False):
            cls.step = _run_step_with_hooks(step)

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_state_dict_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_state_dict_post_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._optimizer_load_state_dict_post_hooks: OrderedDict[int, Callable] = OrderedDict()

        if isinstance(params, torch.Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                f"but got {torch.typename(params)}"
            )
        self.state: defaultdict[torch.Tensor, Any] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []

        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ 参数组
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """加入一个参数组；缺少的超参数取 ``defaults``。"""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, torch.Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering "
                "of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)

        # (name, tensor) 形式：拆出名字，要么全有名字，要么全没有
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are missing"
                )
            param_group["param_names"] = names
        param_group["params"] = tensors

        for p in tensors:
            if not isinstance(p, torch.Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is {torch.typename(p)}"
                )
            if not self.defaults.get("differentiable", None) and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    f"parameter group didn't specify a value of required optimization parameter {name}"
                )
            param_group.setdefault(name, default)

        if len(tensors) != len(set(tensors)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error",
                stacklevel=3,
            )
        seen: set[torch.Tensor] = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {'with' if names else 'without'} names to the optimizer"
                )
        if not seen.isdisjoint(tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ 一步更新
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """执行一步更新；若给出闭包，先在开启梯度的情况下重新计算损失。"""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.set_grad_enabled(bool(self.defaults.get("differentiable", False))):
            for group in self.param_groups:
                params, grads, states = self.collect(group)
                if params:
                    self.dispatch(group, params, grads, states)
        return loss

    def init_state(self, group: dict[str, Any], param: torch.Tensor) -> dict[str, Any] | None:
        """第一次见到参数时建立状态；子类覆盖。返回 None 表示不保存任何状态。"""
        return None

    def update(self, group: dict[str, Any], params: list, grads: list, states: list) -> None:
        """逐个张量（for-loop）更新；子类覆盖。"""
        raise NotImplementedError

    update_foreach: Callable[..., None] | None = None  # 子类可提供多张量（foreach）实现

    def collect(self, group: dict[str, Any]) -> tuple[list, list, list]:
        """收集本组中有梯度的参数、梯度（已按 maximize 取负）和状态（惰性建立）。"""
        params, grads, states = [], [], []
        # 循环里每个参数都要用：先取出来，省掉几百次属性查找（小张量多时这是主要开销）
        rejects_sparse, as_real, state_of = (
            not self.supports_sparse_grad, self.complex_as_real, self.state.get
        )  # fmt: skip
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if rejects_sparse and grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            state = state_of(p)
            if not state:
                if group.get("fused"):  # 与 torch 一样在建状态时检查（复数参数也在这里被拒绝）
                    check_fused_params([p])
                fresh = self.init_state(group, p)
                if fresh is not None:  # None：这个算法（在当前设置下）不为参数保存状态
                    state = self.state[p]
                    state.update(fresh)
            if as_real and p.is_complex():
                p, grad = torch.view_as_real(p), torch.view_as_real(grad)
                if state is not None:  # 实数视图与原状态共享存储，算法只能原地修改
                    state = {
                        k: _as_real(v) if isinstance(v, torch.Tensor) else v
                        for k, v in state.items()
                    }
            params.append(p)
            grads.append(grad)
            states.append(state)
        if params and group.get("maximize", False):
            grads = [-g for g in grads]
        return params, grads, states

    def use_foreach(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> bool:
        """本组是否走 foreach 路径（fused 也走这条最快路径）。

        看的是 collect 交来的梯度本身：复数参数的实数视图没有 ``.grad``，不能从参数上取。
        """
        if self.update_foreach is None:
            return False
        if group.get("fused"):
            if any(g.is_sparse for g in grads):
                raise RuntimeError("`fused` does not support sparse gradients")
            return True
        foreach = group.get("foreach")
        if foreach is None:
            foreach = default_foreach(params, bool(group.get("differentiable", False)))
        # 不支持稀疏梯度的算法在 collect 里已经拒绝了稀疏梯度，不必再遍历一次
        if foreach and self.supports_sparse_grad and any(g.is_sparse for g in grads):
            return False
        return bool(foreach)

    def dispatch(self, group: dict[str, Any], params: list, grads: list, states: list) -> None:
        """选 for-loop、foreach 或 fused；后两者按 (设备, dtype) 分桶。

        fused 时交给 ``optlab._fused``：用 ``torch.compile`` 把算法的公式编译成融合内核。
        """
        if not self.use_foreach(group, params, grads):
            self.update(group, params, grads, states)
            return
        update_foreach = self.update_foreach
        if group.get("fused"):
            update_foreach = functools.partial(fused_update, self)
        first = params[0]
        if all(p.dtype == first.dtype and p.device == first.device for p in params):
            update_foreach(group, params, grads, states)  # 常见情形：只有一个桶，不必逐个分拣
            return
        buckets: dict[tuple, tuple[list, list, list]] = {}
        for p, g, s in zip(params, grads, states):
            bucket = buckets.setdefault((p.device, p.dtype), ([], [], []))
            bucket[0].append(p)
            bucket[1].append(g)
            bucket[2].append(s)
        for bucket in buckets.values():
            update_foreach(group, *bucket)

    def new_step_counter(self, group: dict[str, Any], param: torch.Tensor) -> torch.Tensor:
        """状态里的 ``step``：标量张量；capturable/fused 时放在参数所在设备上。"""
        if group.get("capturable") or group.get("fused"):
            dtype = torch.float32 if group.get("fused") else scalar_dtype()
            return torch.zeros((), dtype=dtype, device=param.device)
        return torch.tensor(0.0, dtype=scalar_dtype())

    def check_capturable_devices(self, group: dict[str, Any], params: list, steps: list) -> None:
        """capturable=True 时，参数与 step 必须在支持图捕获的设备上（与 torch 一样用断言）."""
        if not group.get("capturable") or group.get("fused"):
            return  # torch 的 fused 内核自己管理设备，不做这项检查
        for p, step in zip(params, steps):
            assert p.device.type == step.device.type and p.device.type in _CAPTURABLE_DEVICES, (
                f"If capturable=True, params and state_steps must be on supported devices: {list(_CAPTURABLE_DEVICES)}."
            )

    # ------------------------------------------------------------------ 梯度清零
    def zero_grad(self, set_to_none: bool = True) -> None:
        """清空梯度；``set_to_none=True`` 直接把 ``.grad`` 设为 None，省内存也省一次写。"""
        foreach = self.defaults.get("foreach", False) or self.defaults.get("fused", False)
        buckets: dict[tuple, list[torch.Tensor]] = defaultdict(list)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
                if foreach and not p.grad.is_sparse:
                    buckets[(p.grad.device, p.grad.dtype)].append(p.grad)
                else:
                    p.grad.zero_()
        for grads in buckets.values():
            torch._foreach_zero_(grads)

    # ------------------------------------------------------------------ state_dict
    def state_dict(self) -> dict[str, Any]:
        """打包成 torch 的布局：参数换成从 0 开始的整数编号。"""
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        index_of: dict[int, int] = {}
        packed_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            packed_groups.append(packed)
        packed_state = {
            (index_of[id(k)] if isinstance(k, torch.Tensor) else k): v
            for k, v in self.state.items()
        }
        result = {"state": packed_state, "param_groups": packed_groups}
        for hook in self._optimizer_state_dict_post_hooks.values():
            out = hook(self, result)
            if out is not None:
                result = out
        return result

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """恢复状态；组数或组大小不符时报错且不改动优化器。"""
        state_dict = dict(state_dict)
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            out = hook(self, state_dict)
            if out is not None:
                state_dict = out
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )

        param_of = dict(
            zip(
                chain.from_iterable(s["params"] for s in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        group_of = {i: s for s in saved_groups for i in s["params"]}
        state: defaultdict[Any, Any] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in param_of:
                state[param_of[key]] = _cast_state(param_of[key], value, group_of[key], None)
            else:
                state[key] = value

        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.__setstate__({"state": state, "param_groups": new_groups})
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for attr in (
            "_optimizer_step_pre_hooks",
            "_optimizer_step_post_hooks",
            "_optimizer_state_dict_pre_hooks",
            "_optimizer_state_dict_post_hooks",
            "_optimizer_load_state_dict_pre_hooks",
            "_optimizer_load_state_dict_post_hooks",
        ):
            if attr not in self.__dict__:
                setattr(self, attr, OrderedDict())
        # 旧版本保存的参数组可能缺新加的超参数
        for group in self.param_groups:
            for key, value in self.defaults.items():
                if value is not required:
                    group.setdefault(key, value)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            if i:
                lines.append("")  # torch 在组与组之间空一行
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        lines.append(")")
        return "\n".join(lines)

    # ------------------------------------------------------------------ 钩子
    @staticmethod
    def _register(table: OrderedDict, hook: Callable, prepend: bool = False) -> RemovableHandle:
        handle = RemovableHandle(table)
        table[handle.id] = hook
        if prepend:
            table.move_to_end(handle.id, last=False)
        return handle

    def register_step_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)``，可返回新的 ``(args, kwargs)``。"""
        return self._register(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)``，在 step 之后调用。"""
        return self._register(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(
        self, hook: Callable, prepend: bool = False
    ) -> RemovableHandle:
        """``hook(optimizer)``，在打包 state_dict 之前调用。"""
        return self._register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(
        self, hook: Callable, prepend: bool = False
    ) -> RemovableHandle:
        """``hook(optimizer, state_dict)``，可返回新的 state_dict。"""
        return self._register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(
        self, hook: Callable, prepend: bool = False
    ) -> RemovableHandle:
        """``hook(optimizer, state_dict)``，可返回替换后的 state_dict。"""
        return self._register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(
        self, hook: Callable, prepend: bool = False
    ) -> RemovableHandle:
        """``hook(optimizer)``，在 load_state_dict 之后调用。"""
        return self._register(self._optimizer_load_state_dict_post_hooks, hook, prepend)


def _cast_state(param: torch.Tensor, value: Any, group: dict[str, Any], key: str | None) -> Any:
    """把载入的状态搬到参数的设备（浮点状态也换成参数的 dtype）；``step`` 保持原样。"""
    if isinstance(value, torch.Tensor):
        if key == "step":
            if group.get("capturable") or group.get("fused"):
                return value.to(dtype=torch.float32, device=param.device)
            return value
        if param.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device)
        return value.to(device=param.device)
    if isinstance(value, dict):
        return {k: _cast_state(param, v, group, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v, group, key) for v in value)
    return value


# 基类自己的 step 也要运行钩子（子类的 step 由 __init_subclass__ 包装）
Optimizer.step = _run_step_with_hooks(Optimizer.step)  # type: ignore[method-assign]
