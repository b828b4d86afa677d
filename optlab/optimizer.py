"""优化器基类 ``Optimizer``：参数组、状态、step/闭包、state_dict 与钩子。

算法子类只需要写三样东西：

* ``__init__``：校验超参数（用 ``optlab._checks`` 里的函数），把默认值交给基类；
* ``init_state(group, param)``：第一次遇到某个参数时建立它的状态；
* ``update(group, params, grads, states)`` 以及可选的 ``update_foreach(...)``：算法本身，
  用 ``optlab._ops`` 里有名字的共享运算逐行写出算法框。

其余的公共机制——收集有梯度的参数、惰性建状态、``maximize`` 取负、复数参数视为实数、
与 torch 一样拒绝所选路径不支持的输入（``check_step_inputs``）、把超参数整理成 Python 数或
张量（``hyperparams``，子类用 ``scalar_hyperparams``/``tensor_policy`` 声明）、步数加一
（``advance_steps``）、按设备与 dtype 分桶走 foreach 路径、state_dict 的打包与恢复、钩子
——都只在这里写一次。
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import torch
import torch.optim.optimizer as _torch_optimizer_module
from torch.utils.hooks import RemovableHandle

from ._checks import check_fused_params, reject_tensors_as_numbers
from ._docs import args_section
from ._fused import fused_step_direct, fused_update
from ._ops import as_float, to_scalar

__all__ = [
    "Optimizer",
    "register_optimizer_step_post_hook",
    "register_optimizer_step_pre_hook",
    "required",
]


class _RequiredParameter:
    """标记“必须由参数组给出”的超参数（例如没有默认值的 lr）。"""

    def __repr__(self) -> str:
        return "<required parameter>"


# 与 torch 共用同一个标记对象：写给 torch 的子类常用 ``torch.optim.optimizer.required``，
# 换成 optlab.Optimizer 之后也必须被认出来（反之亦然）
required = getattr(_torch_optimizer_module, "required", None) or _RequiredParameter()

#: update 的参数类型：参数组（已由 hyperparams 整理）、张量列表、每个参数的状态
Group = dict[str, Any]
Tensors = list[torch.Tensor]
States = list[dict[str, Any]]

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


def bucket_by_device_and_dtype(tensors: list, *others: list) -> list[tuple[list, ...]]:
    """把 ``tensors`` 与并列的列表按 ``tensors`` 里张量的 (设备, dtype) 分桶（foreach 运算要求同桶）。"""
    if not tensors:
        return []
    first = tensors[0]
    if all(t.dtype == first.dtype and t.device == first.device for t in tensors):
        return [(tensors, *others)]  # 常见情形：只有一个桶，不必逐个分拣
    buckets: dict[tuple, tuple[list, ...]] = {}
    for row in zip(tensors, *others):
        bucket = buckets.setdefault((row[0].device, row[0].dtype), tuple([] for _ in row))
        for column, item in zip(bucket, row):
            column.append(item)
    return list(buckets.values())


def _as_real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t) if torch.is_complex(t) else t


def _hand_over_tensors(state: dict | None, tensors: list) -> tuple | None:
    """状态的值全是张量时，把它们追加到 ``tensors`` 并返回键名；空的或含非张量时返回 None。"""
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return None
    tensors.extend(state.values())
    return tuple(state)


def _is_core_module(module: str) -> bool:
    """optlab 的核心模块（算法本身），不含教学用的 ``optlab.lab``。"""
    return module.startswith("optlab.") and not module.startswith("optlab.lab")


def _complex_as_real(params: list, grads: list, states: list) -> tuple[list, list, list]:
    """复数参数、梯度与状态换成 ``view_as_real`` 的实数视图（实部、虚部各算一个坐标）。

    视图与原张量共享存储，所以算法只能原地修改状态；状态字典换成一份浅拷贝，原字典不变。
    """
    real_states = [
        {k: _as_real(v) if isinstance(v, torch.Tensor) else v for k, v in state.items()}
        if state is not None and p.is_complex()
        else state
        for p, state in zip(params, states)
    ]
    return [_as_real(p) for p in params], [_as_real(g) for g in grads], real_states


def _run_step_with_hooks(step: Callable) -> Callable:
    """包装子类的 ``step``：前后运行 step 钩子（全局钩子与本实例的钩子）。

    与 torch 一样：整个过程包在名为 ``Optimizer.step#<类名>.step`` 的性能分析区段里，
    钩子看到的 ``args`` 含 self；pre 钩子可以返回新的 ``(args, kwargs)``。

    有意的差别：用户子类的 ``step`` 里再调用 ``super().step()`` 时，钩子只在最外层运行一次。
    torch 是在“第一次构造某个类的实例时”给那个类的 step 套包装，所以同样的代码在 torch 里
    钩子跑一次还是两次，取决于进程里之前是否构造过父类的实例；optlab 总是一次。
    """

    @functools.wraps(step)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        self = args[0]
        if self.__dict__.get("_optlab_in_step", False):  # 嵌套调用（super().step()）：不再跑钩子
            return step(*args, **kwargs)
        self.__dict__["_optlab_in_step"] = True
        try:
            return _hooked_call(step, self, args, kwargs)
        finally:
            self.__dict__["_optlab_in_step"] = False

    wrapper._optlab_hooked = True  # type: ignore[attr-defined]
    wrapper.hooked = True  # type: ignore[attr-defined]  # torch 用这个标记判断 step 是否已包装
    return wrapper


def _hooked_call(step: Callable, self: Any, args: tuple, kwargs: dict) -> Any:
    """在性能分析区段里依次运行：pre 钩子、step 本身、post 钩子。"""
    with torch.autograd.profiler.record_function(f"Optimizer.step#{type(self).__name__}.step"):
        for hook in chain(_global_step_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            result = hook(self, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"{step} must return None or a tuple of (new_args, new_kwargs), "
                        f"but got {result}."
                    )
                args, kwargs = result
        out = step(*args, **kwargs)
        self._optimizer_step_code()
        for hook in chain(
            self._optimizer_step_post_hooks.values(), _global_step_post_hooks.values()
        ):
            hook(self, args, kwargs)
        return out


# 全局 step 钩子与 torch 共用同一张表：无论用 torch.optim.optimizer 还是 optlab.optimizer 的
# register_optimizer_step_*_hook 注册，钩子都对两边的全部优化器生效（torch 文档说的“所有优化器”）。
# 这里只共享表本身（两个 OrderedDict），不运行 torch 的任何函数。
_global_step_pre_hooks: OrderedDict[int, Callable] = getattr(
    _torch_optimizer_module, "_global_optimizer_pre_hooks", OrderedDict()
)
_global_step_post_hooks: OrderedDict[int, Callable] = getattr(
    _torch_optimizer_module, "_global_optimizer_post_hooks", OrderedDict()
)


def register_optimizer_step_pre_hook(hook: Callable) -> RemovableHandle:
    """对所有优化器（optlab 与 torch.optim）生效的 step 前置钩子：``hook(optimizer, args, kwargs)``。"""
    handle = RemovableHandle(_global_step_pre_hooks)
    _global_step_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook: Callable) -> RemovableHandle:
    """对所有优化器（optlab 与 torch.optim）生效的 step 后置钩子：``hook(optimizer, args, kwargs)``。"""
    handle = RemovableHandle(_global_step_post_hooks)
    _global_step_post_hooks[handle.id] = hook
    return handle


def _step_not_implemented(self: Any, closure: Any = None) -> Any:
    raise NotImplementedError


def _hook_registrar(when: str, doc: str) -> Callable[..., RemovableHandle]:
    """方法 ``register_<when>_hook(hook, prepend=False)``：把钩子登记到 ``self._optimizer_<when>_hooks``。"""
    table = f"_optimizer_{when}_hooks"

    def register(self: Optimizer, hook: Callable, prepend: bool = False) -> RemovableHandle:
        return self._register(getattr(self, table), hook, prepend)

    register.__name__ = f"register_{when}_hook"
    register.__qualname__ = f"Optimizer.{register.__name__}"
    register.__doc__ = doc
    return register


class Optimizer(torch.optim.Optimizer):
    """所有优化器的基类，公开行为与 ``torch.optim.Optimizer`` 相同。

    **类型**上继承 ``torch.optim.Optimizer``：torch 自己和上层库（transformers、Lightning、
    ``torch.distributed.checkpoint``、torch 的调度器……）里的 ``isinstance(x, Optimizer)``
    检查都会接受 optlab 的优化器。**行为**却全部是这里的代码：torch 基类在类体里定义的每个
    方法（``__init__``、step 包装与性能分析钩子、``state_dict``/``load_state_dict``、
    ``zero_grad``、``add_param_group``、钩子注册、``__repr__`` 等）本类都重新实现了一遍，
    从不调用 ``super()``，所以 torch 基类的方法体一行也不会运行
    （``tests/test_ecosystem_identity.py`` 把它们全部换成抛异常的函数来证明这一点）。
    """

    OptimizerPreHook = Callable[..., "tuple[tuple[Any, ...], dict[str, Any]] | None"]
    OptimizerPostHook = Callable[..., None]

    #: 为 True 时，复数参数（及其梯度、状态）以 ``view_as_real`` 的实数视图交给算法。
    complex_as_real: bool = True
    #: 是否接受稀疏梯度。
    supports_sparse_grad: bool = False
    #: ``update`` 只原地修改状态里已有的张量（至多往空的状态里放第一批，如 SGD 的动量缓冲）。
    #: 为 True 时 ``torch.compile`` 下交给 update 的状态是装着同一批张量的新字典（见
    #: ``_compiled_states``）。optlab 自己的算法都是这样；用户子类默认 False，怎么写状态都对。
    state_updated_in_place: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "state_updated_in_place" not in cls.__dict__:
            # optlab 的算法只原地改状态（tests/test_compile.py 核对编译后与 eager 相同）
            cls.state_updated_in_place = _is_core_module(cls.__module__)
        if cls.__module__.startswith("optlab.") and cls.__dict__.get("__doc__"):
            # 类的文档字符串是算法框与说明；Args 一节按签名从 optlab._docs 的表生成
            cls.__doc__ = inspect.cleandoc(cls.__doc__) + "\n\n" + args_section(cls)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "_optlab_hooked", False):
            cls.step = _run_step_with_hooks(step)
        elif step is None and cls.step is Optimizer.step and cls.update is Optimizer.update:
            # 既没写 step 也没写 update 的用户子类：与 torch 一样，调用 step 抛 NotImplementedError
            cls.step = _run_step_with_hooks(_step_not_implemented)

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        # 不调用 torch.optim.Optimizer.__init__：下面就是完整的初始化
        self.defaults = defaults
        self._zero_grad_profile_name = f"Optimizer.zero_grad#{type(self).__name__}.zero_grad"
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
        # 与 torch 相同的属性：capturable 的“只警告一次”标记
        self._warned_capturable_if_run_uncaptured = True

    # ------------------------------------------------------------------ torch 基类的内部接口
    # torch.optim.Optimizer 在类体里还定义了几个内部方法，torch 的其他部分（性能分析器、
    # torch.compile、旧代码）可能直接调用它们。这里逐个给出 optlab 自己的实现，
    # 保证继承来的 torch 方法体永远不会运行。

    def _patch_step_function(self) -> None:
        """torch 在构造时给类的 ``step`` 套上钩子包装；optlab 在定义子类时就已套好。"""
        self._zero_grad_profile_name = f"Optimizer.zero_grad#{type(self).__name__}.zero_grad"
        step = type(self).step
        if not getattr(step, "hooked", False):
            type(self).step = _run_step_with_hooks(step)  # type: ignore[method-assign]

    @staticmethod
    def profile_hook_step(func: Callable) -> Callable:
        """把一个 step 函数包装成“性能分析区段 + 前后钩子”的版本。"""
        return _run_step_with_hooks(func)

    def _optimizer_step_code(self) -> None:
        """空函数：性能分析器与 torch.compile 用它在轨迹里标出 step 的位置。"""

    def _accelerator_graph_capture_health_check(self) -> None:
        """在 CUDA/XPU 图捕获中运行 step 时，要求每个参数组都是 capturable。"""
        if torch.compiler.is_compiling():
            return
        accelerator = torch.accelerator.current_accelerator(check_available=True)
        if accelerator is None or accelerator.type not in ("cuda", "xpu"):
            return
        capturing = torch.accelerator.current_stream().is_capturing()
        all_capturable = all(group.get("capturable", False) for group in self.param_groups)
        kind = accelerator.type.upper()
        if capturing and not all_capturable:
            raise RuntimeError(
                f"Attempting {kind} graph capture of step() for an instance of "
                f"{type(self).__name__} but param_groups' capturable is False."
            )
        warned = getattr(self, "_warned_capturable_if_run_uncaptured", False)
        if not warned and all_capturable and not capturing:
            warnings.warn(
                "This instance was constructed with capturable=True or some of all the "
                f"param_groups came with capturable=True, but step() is running without {kind} "
                "graph capture. If you never intend to graph-capture this instance, "
                "capturable=True can impair performance, and you should set capturable=False.",
                stacklevel=2,
            )
            self._warned_capturable_if_run_uncaptured = True

    def _cuda_graph_capture_health_check(self) -> None:
        """旧名字（torch 已弃用），同上。"""
        self._accelerator_graph_capture_health_check()

    @staticmethod
    def _group_tensors_by_device_and_dtype(
        tensorlistlist: list[list[Any]], with_indices: bool = False
    ) -> dict[tuple[Any, Any], tuple[list[list[Any]], list[int]]]:
        """把“若干条等长张量列表”按第一条列表里张量的 (设备, dtype) 分组，并记下原位置。"""
        if torch.compiler.is_compiling():
            return {(None, None): (tensorlistlist, list(range(len(tensorlistlist[0]))))}
        positions = list(range(len(tensorlistlist[0])))
        groups: dict[tuple[Any, Any], tuple[list[list[Any]], list[int]]] = {}
        for *columns, indices in bucket_by_device_and_dtype(*tensorlistlist, positions):
            first = columns[0][0]
            groups[(first.device, first.dtype)] = ([list(c) for c in columns], indices)
        return groups

    @staticmethod
    def _process_value_according_to_param_policy(
        param: torch.Tensor,
        value: torch.Tensor,
        param_id: int,
        param_groups: list[dict[Any, Any]],
        key: Any = None,
    ) -> torch.Tensor:
        """载入状态时处理一个张量：``step`` 只在 capturable/fused 时搬动，其余随参数的设备与 dtype。"""
        if param_groups is None:
            raise AssertionError("Expected param_groups to be set")
        group: dict[Any, Any] = {}
        for candidate in param_groups:  # 与 torch 一样：最后一个含该编号的组说了算
            if param_id in candidate["params"]:
                group = candidate
        return _cast_tensor(param, value, group, key)

    # ------------------------------------------------------------------ 参数组
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """加入一个参数组；缺少的超参数取 ``defaults``。"""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
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
        params: list[torch.Tensor] = []
        grads: list[torch.Tensor] = []
        states: list[dict[str, Any] | None] = []
        if torch.compiler.is_compiling():
            # dynamo 直接运行 _init_group（不追踪），再把追加进列表的张量接回计算图
            tensors: list[torch.Tensor] = []
            layouts = self._init_group(group, params, grads, tensors)
            states = self._compiled_states(params, layouts, tensors)
        else:
            self._init_group(group, params, grads, states=states)
        if self.complex_as_real and any(p.is_complex() for p in params):
            params, grads, states = _complex_as_real(params, grads, states)
        if params and group.get("maximize", False):
            grads = [-g for g in grads]
        return params, grads, states

    def _init_group(
        self,
        group: dict[str, Any],
        params: list,
        grads: list,
        state_tensors: list | None = None,
        *,
        states: list | None = None,
    ) -> tuple | None:
        """把本组有梯度的参数与梯度追加到 ``params``、``grads``，缺的状态当场建立；只做簿记，
        不做张量运算。eager 时把状态字典追加到 ``states``；编译时把状态张量追加到
        ``state_tensors``，返回每个参数的状态键名（见 ``_compiled_states``）。

        这个名字 ``torch.compile`` 认得（torch.optim 的各算法也有它）：追踪 step 时 dynamo 不追踪
        它，而是直接运行，再把追加进列表（按位置传入的）张量接回计算图：参数与状态张量是地址
        固定的输入，每步只核对身份；梯度只核对“不是 None”。若在被追踪的代码里读 ``p.grad``，
        编译后的每一步都要逐个核对梯度的形状、dtype、步幅与互不别名，张量多时比更新本身还贵。
        代价也与 torch 相同：编译之后把某个梯度换成稀疏的或步幅不同的，编译后的 step 报错而不是
        重新编译（梯度的形状、dtype 与设备由 autograd 保证与参数一致）。
        """
        # 循环里每个参数都要用：先取出来，省掉几百次属性查找（小张量多时这是主要开销）
        rejects_sparse, state_of = not self.supports_sparse_grad, self.state.get
        hand_over = state_tensors is not None and self.state_updated_in_place
        layouts: list[tuple | None] = []
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
            params.append(p)
            grads.append(grad)
            if states is not None:
                states.append(state)
            if state_tensors is not None:
                layouts.append(_hand_over_tensors(state, state_tensors) if hand_over else None)
        return tuple(layouts) if state_tensors is not None else None

    def _compiled_states(self, params: list, layouts: tuple, tensors: list) -> list:
        """编译时交给 ``update`` 的状态：``_init_group`` 交回的张量按键名装进新字典。

        计算图用的还是同一批张量，而编译后的一步不必逐个核对各状态字典的键名（每个键一条守卫，
        张量多时不可忽略；torch.optim 也只拿张量列表）。新字典上的赋值不会写回状态，所以
        只用于 ``state_updated_in_place`` 的算法；空的状态（SGD 第一步往里放动量缓冲）、含非张量
        值的状态交的是状态字典本身。
        """
        states, start = [], 0
        for p, keys in zip(params, layouts):
            if keys is None:
                states.append(self.state.get(p))
                continue
            states.append(dict(zip(keys, tensors[start : start + len(keys)])))
            start += len(keys)
        return states

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
        """整理超参数，再选 for-loop、foreach 或 fused；后两者按 (设备, dtype) 分桶。

        fused 时交给 ``optlab._fused``：用 ``torch.compile`` 把算法的公式编译成融合内核。
        """
        if group.get("fused"):
            self.check_step_inputs(group, True)
            if fused_step_direct(self, self.hyperparams(group), params, grads, states):
                return  # 与上次同样的一批张量：守卫一次核对全部输入，直接调用了编译好的内核
        foreach = self.use_foreach(group, params, grads)
        self.check_step_inputs(group, foreach)
        group = self.hyperparams(group)
        if not foreach:
            self.update(group, params, grads, states)
            return
        buckets = bucket_by_device_and_dtype(params, grads, states)
        update_foreach = self.update_foreach
        if group.get("fused"):
            update_foreach = functools.partial(fused_update, self, whole_group=len(buckets) == 1)
        for bucket in buckets:
            update_foreach(group, *bucket)

    #: foreach 算子不支持自动求导：differentiable 时走 foreach 路径就报错（与 torch 一样）
    foreach_rejects_differentiable: bool = True

    #: torch 的 for-loop 把这些超参数当作数传给 alpha=/value=：张量须是 0 维且（求导时）不要求梯度
    number_hyperparams: tuple[str, ...] = ()

    def check_step_inputs(self, group: dict[str, Any], foreach: bool) -> None:
        """step 时、整理超参数之前，与 torch 一样拒绝所选路径不支持的输入；子类可追加检查。"""
        if foreach and self.foreach_rejects_differentiable and group.get("differentiable"):
            raise AssertionError("_foreach ops don't support autograd")
        if not foreach and self.number_hyperparams:
            reject_tensors_as_numbers(group, self.number_hyperparams)

    # ------------------------------------------------------------------ 超参数与步数
    #: 不保持张量时（见 tensor_policy），在 update 之前取成 Python 数的超参数；betas 之类的元组逐项取
    scalar_hyperparams: tuple[str, ...] = ()

    def tensor_policy(self, group: dict[str, Any]) -> tuple[bool, bool]:
        """``(keep_tensors, tensor_steps)``：超参数、步数 t 是否保持为张量。

        capturable（图捕获里不能把张量同步回 CPU）与 differentiable（梯度要流到张量超参数）时保持；
        否则取 Python 数，省掉每个参数上的小张量运算。与 torch 一样，有的算法在 differentiable
        时仍把 t 取成 Python 数（覆盖本方法）。
        """
        keep = bool(group.get("capturable") or group.get("differentiable"))
        return keep, keep

    def hyperparams(self, group: dict[str, Any]) -> dict[str, Any]:
        """每步每组一次、在 ``update`` 之前：把参数组整理成 ``update`` 读的样子（浅拷贝，原组不变）。

        * 1 元素的张量 ``lr``（形状 [1]、[1, 1] 等）变成 0 维，与 torch 的 ``_to_scalar`` 相同；
        * 不保持张量时，``scalar_hyperparams`` 里的张量换成 Python 数；
        * 加上两个标记 ``keep_tensors`` 与 ``tensor_steps``（见 ``tensor_policy``）。
        """
        hp = dict(group)
        keep, tensor_steps = self.tensor_policy(group)
        if torch.compiler.is_compiling():  # 编译时 .item() 会断开计算图：与 torch 的 _get_value 一样保持张量
            keep = tensor_steps = True
        hp["keep_tensors"], hp["tensor_steps"] = keep, tensor_steps
        if isinstance(hp.get("lr"), torch.Tensor):
            hp["lr"] = to_scalar(hp["lr"])
        if not keep:
            for name in self.scalar_hyperparams:
                value = hp[name]
                hp[name] = (
                    tuple(map(as_float, value)) if isinstance(value, (tuple, list)) else as_float(value)
                )
        return hp

    def advance_steps(self, group: dict[str, Any], params: list, states: list) -> list:
        r""":math:`t \leftarrow t + 1`，返回本步的 t：``tensor_steps`` 时是 step 张量本身
        （capturable 时留在设备上、不同步），否则是 Python 数。"""
        steps = [s["step"] for s in states]
        self.check_capturable_devices(group, params, steps)
        torch._foreach_add_(steps, 1)
        if group["tensor_steps"] or torch.compiler.is_compiling():  # 编译时不同步（与 torch 相同）
            return steps
        return [s.item() for s in steps]

    def new_step_counter(self, group: dict[str, Any], param: torch.Tensor) -> torch.Tensor:
        """状态里的 ``step``：标量张量；capturable/fused 时放在参数所在设备上。"""
        if group.get("capturable") or group.get("fused"):
            dtype = torch.float32 if group.get("fused") else scalar_dtype()
            return torch.zeros((), dtype=dtype, device=param.device)
        return torch.tensor(0.0, dtype=scalar_dtype())

    def check_capturable_devices(self, group: dict[str, Any], params: list, steps: list) -> None:
        """capturable=True 时，参数与 step 必须在支持图捕获的设备上（与 torch 一样用断言）.

        与 torch 一样，编译时不检查（torch.compile 本身就不同步，CPU 上也可以 capturable）。
        """
        if not group.get("capturable") or group.get("fused") or torch.compiler.is_compiling():
            return  # torch 的 fused 内核自己管理设备，不做这项检查
        for p, step in zip(params, steps):
            assert p.device.type == step.device.type and p.device.type in _CAPTURABLE_DEVICES, (
                f"If capturable=True, params and state_steps must be on supported devices: {list(_CAPTURABLE_DEVICES)}."
            )

    # ------------------------------------------------------------------ 梯度清零
    def zero_grad(self, set_to_none: bool = True) -> None:
        """清空梯度；``set_to_none=True`` 直接把 ``.grad`` 设为 None，省内存也省一次写。"""
        foreach = self.defaults.get("foreach", False) or self.defaults.get("fused", False)
        if not hasattr(self, "_zero_grad_profile_name"):
            self._patch_step_function()
        to_zero: list[torch.Tensor] = []
        with torch.autograd.profiler.record_function(self._zero_grad_profile_name):
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
                        to_zero.append(p.grad)
                    else:
                        p.grad.zero_()
            for (grads,) in bucket_by_device_and_dtype(to_zero):
                torch._foreach_zero_(grads)

    # ------------------------------------------------------------------ state_dict
    def state_dict(self) -> dict[str, Any]:
        """打包成 torch 的布局：参数换成整数编号。

        编号与 torch 完全一致：第 k 组的编号从“前面各组参数个数之和”起逐个递增；
        已在前面的组里编过号的张量沿用旧编号；同一组里重复出现的张量取它最后一次出现的位置，
        但每次出现都占掉一个位置（torch 的怪癖，照搬：``[a, a, b]`` 编为 ``[1, 1, 2]``）。
        """
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        index_of: dict[int, int] = {}
        start = 0
        packed_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            # 与 torch 一致：编号在前面的组里出现过就沿用；同一组里重复出现时，后一次的编号覆盖前一次
            earlier = set(index_of)
            for i, p in enumerate(group["params"], start):
                if id(p) not in earlier:
                    index_of[id(p)] = i
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            start += len(packed["params"])
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
        """恢复状态；组数或组大小不符时抛 ValueError 且不改动优化器。

        与 torch 相同：参数组原样换成保存的那些（缺的超参数不补默认值，只补算法在
        ``setstate_defaults`` 里声明的那几个），所以载入别的优化器类的 state_dict 或缺键的组，
        要到第一次 ``step()`` 才抛 KeyError。
        """
        state_dict = state_dict.copy()  # 与 torch 一样：None 等非 dict 在这里抛 AttributeError
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
        state: defaultdict[Any, Any] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in param_of:
                param = param_of[key]
                state[param] = _cast_state(param, value, key, state_dict["param_groups"], None)
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

    #: 载入旧的或别的优化器的 state_dict 时，参数组缺了就补上的键及其取值（与 torch 各算法的
    #: ``__setstate__`` 补的一致，见 ``_SETSTATE_DEFAULTS``）；其余的键缺了，第一次 step 时抛 KeyError。
    setstate_defaults: dict[str, Any] | None = None

    def _setstate_defaults(self) -> dict[str, Any]:
        if self.setstate_defaults is not None:
            return self.setstate_defaults
        for cls in type(self).__mro__:
            if cls.__module__.startswith("optlab.") and cls.__name__ in _SETSTATE_DEFAULTS:
                return _SETSTATE_DEFAULTS[cls.__name__]
        return {}

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
        self._patch_step_function()  # 反序列化（如多进程传递）后补上 step 包装与性能分析名
        self.defaults.setdefault("differentiable", False)
        # 旧版本保存的参数组可能缺后来新加的开关：只补 torch 也会补的那几个
        fill = self._setstate_defaults()
        if fill:
            for group in self.param_groups:
                for key, value in fill.items():
                    group.setdefault(key, value)
        self._upgrade_legacy_state()

    def _upgrade_legacy_state(self) -> None:
        """torch < 1.12 的检查点把 ``step`` 等标量状态存成 Python 数：与 torch 的 ``__setstate__``
        一样换成张量——dtype 与设备就是 ``init_state`` 新建时的那样。"""
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.get(p)
                legacy = [k for k, v in (state or {}).items() if isinstance(v, (int, float))]
                if not legacy:
                    continue
                fresh = self.init_state(group, p) or {}
                for key in legacy:
                    new = fresh.get(key)
                    if isinstance(new, torch.Tensor) and new.dim() == 0:
                        state[key] = new.fill_(float(state[key]))

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

    # state_dict / load_state_dict 前后的四种钩子：签名相同，只是登记到不同的表
    register_state_dict_pre_hook = _hook_registrar(
        "state_dict_pre", "``hook(optimizer)``，在打包 state_dict 之前调用。"
    )
    register_state_dict_post_hook = _hook_registrar(
        "state_dict_post", "``hook(optimizer, state_dict)``，可返回新的 state_dict。"
    )
    register_load_state_dict_pre_hook = _hook_registrar(
        "load_state_dict_pre", "``hook(optimizer, state_dict)``，可返回替换后的 state_dict。"
    )
    register_load_state_dict_post_hook = _hook_registrar(
        "load_state_dict_post", "``hook(optimizer)``，在 load_state_dict 之后调用。"
    )


def _cast_tensor(param: torch.Tensor, value: torch.Tensor, group: dict[str, Any], key: Any) -> Any:
    """载入的一个状态张量：``step`` 只在 capturable/fused 时转 float32 并搬到参数设备，
    其余浮点状态随参数的 dtype 与设备，非浮点参数的状态只换设备。"""
    if key == "step":
        if group.get("capturable", False) or group.get("fused", False):
            return value.to(dtype=torch.float32, device=param.device)
        return value
    if param.is_floating_point():
        return value.to(dtype=param.dtype, device=param.device)
    return value.to(device=param.device)


def _cast_state(
    param: torch.Tensor, value: Any, param_id: Any, saved_groups: list, key: Any
) -> Any:
    """递归处理一个参数的载入状态（与 torch 相同的遍历规则）。"""
    if isinstance(value, torch.Tensor):
        return Optimizer._process_value_according_to_param_policy(
            param, value, param_id, saved_groups, key
        )
    if isinstance(value, dict):
        return {k: _cast_state(param, v, param_id, saved_groups, k) for k, v in value.items()}
    if isinstance(value, Iterable):
        # torch 把其余一切可迭代对象按 type(value)(生成器) 重建，且不再传递键名。
        # 这对 str 并不合适（会变成生成器的字符串表示），但照搬 torch，两边结果一致。
        return type(value)(_cast_state(param, v, param_id, saved_groups, None) for v in value)
    return value


# torch 各算法的 __setstate__ 在载入时给参数组补上的键与取值（按 torch 2.13 实测）。
# 不在表里的键（lr、betas、eps、weight_decay……）缺了不补：第一次 step 时抛 KeyError。
_SETSTATE_DEFAULTS: dict[str, dict[str, Any]] = {
    "SGD": {"nesterov": False, "maximize": False, "foreach": None, "differentiable": False,
            "fused": False},
    "Adam": {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
             "differentiable": False, "fused": None, "decoupled_weight_decay": False},
    "AdamW": {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
              "differentiable": False, "fused": None},
    "Adagrad": {"foreach": None, "maximize": False, "differentiable": False, "fused": None},
    "Adadelta": {"maximize": False, "capturable": False, "foreach": None,
                 "differentiable": False},
    "Adamax": {"foreach": None, "maximize": False, "differentiable": False, "capturable": False},
    "ASGD": {"foreach": None, "maximize": False, "differentiable": False, "capturable": False},
    "NAdam": {"decoupled_weight_decay": False, "maximize": False, "foreach": None,
              "capturable": False, "differentiable": False},
    "RAdam": {"maximize": False, "foreach": None, "capturable": False,
              "decoupled_weight_decay": False, "differentiable": False},
    "RMSprop": {"momentum": 0, "centered": False, "capturable": False, "foreach": None,
                "maximize": False, "differentiable": False},
    "Rprop": {"foreach": None, "maximize": False, "differentiable": False, "capturable": False},
    "Adafactor": {"foreach": None},
    "SparseAdam": {},
    "LBFGS": {},
    "Muon": {},
}  # fmt: skip


# 基类自己的 step 也要运行钩子（子类的 step 由 __init_subclass__ 包装）
Optimizer.step = _run_step_with_hooks(Optimizer.step)  # type: ignore[method-assign]
