"""``swap_in_optimizer_params_and_state``：在一个 with 块内临时换上另一套参数与优化器状态。

对应 ``torch.optim.swap_in_optimizer_params_and_state``。典型用途是让 ``optimizer.step()``
作用在“替身”张量上（例如 FakeTensor，用来追踪出一步更新的计算图），而不碰真实的优化器。

与 torch 一样，输入格式不对时一律抛 RuntimeError（不是 TypeError）。
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["swap_in_optimizer_params_and_state"]

_NAME = "swap_in_optimizer_params_and_state"


def _check_state(state: Any) -> dict[Any, Any]:
    if not isinstance(state, dict):
        raise RuntimeError(  # noqa: TRY004
            f"{_NAME} requires swapin_optim_state['state'] to be a dict mapping packed parameter "
            f"ids to per-param state dicts, got {type(state).__name__}."
        )
    if any(isinstance(k, torch.Tensor) for k in state):
        raise RuntimeError(
            f"{_NAME} requires optimizer.state_dict()-style state keyed by packed parameter ids."
        )
    if any(isinstance(k, int) and not isinstance(v, dict) for k, v in state.items()):
        raise RuntimeError(
            f"{_NAME} requires per-parameter optimizer state entries to be dictionaries."
        )
    return state


def _check_group(index: int, live: dict[str, Any], saved: Any) -> list[int]:
    """一个保存的参数组：必须是字典、params 为整数编号、个数与键都与现有的组一致。"""
    if not isinstance(saved, dict):
        raise RuntimeError(  # noqa: TRY004
            f"{_NAME} requires each optimizer param group to be a dictionary."
        )
    ids = saved.get("params")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise RuntimeError(
            f"{_NAME} requires optimizer.state_dict()-style param_groups[*]['params'] entries "
            "keyed by packed parameter ids."
        )
    if len(ids) != len(live["params"]):
        raise RuntimeError(
            f"swapin_optim_state param group {index} has a different number of params than "
            "the live optimizer param group."
        )
    only_saved = [k for k in saved if k not in live]
    only_live = [k for k in live if k not in saved]
    if only_saved or only_live:
        raise RuntimeError(
            f"{_NAME} requires optimizer.state_dict()-style param group keys to exactly match "
            f"the live optimizer group keys for group {index}. "
            f"Keys only in swap-in: {only_saved}. Keys only in live: {only_live}."
        )
    return ids


@contextmanager
def swap_in_optimizer_params_and_state(
    optimizer: Any,
    swapin_parameters: dict[str, torch.Tensor],
    swapin_optim_state: dict[str, Any],
) -> Iterator[None]:
    """在 with 块内让优化器的各参数组使用 ``swapin_parameters``（按参数出现的顺序）、
    状态与超参数使用 ``swapin_optim_state``（``optimizer.state_dict()`` 的格式）；离开时原样恢复。

    每个参数的状态字典是新建的浅拷贝：块内对状态张量的原地修改会反映到
    ``swapin_optim_state`` 里，换成新张量之类的其他改动则不会。优化器必须已经有状态。
    """
    if not optimizer.state:
        raise RuntimeError(f"{_NAME} requires initialized optimizer state.")
    if not isinstance(swapin_optim_state, dict):
        raise RuntimeError(f"{_NAME} requires a DCP-style optimizer state_dict.")  # noqa: TRY004
    saved_state = _check_state(swapin_optim_state.get("state"))
    saved_groups = swapin_optim_state.get("param_groups")
    if not isinstance(saved_groups, list):
        raise RuntimeError(  # noqa: TRY004
            f"{_NAME} requires swapin_optim_state['param_groups'] to be a list of param-group "
            f"dicts, got {type(saved_groups).__name__}."
        )
    if len(saved_groups) != len(optimizer.param_groups):
        raise RuntimeError(
            "swapin_optim_state has a different number of parameter groups than the live optimizer."
        )

    tensors = list(swapin_parameters.values())
    plan = []  # (现有的组, 保存的组, 换上的参数)
    used_ids: set[int] = set()
    offset = 0
    for index, (live, saved) in enumerate(zip(optimizer.param_groups, saved_groups)):
        ids = _check_group(index, live, saved)
        used_ids.update(ids)
        if offset + len(ids) > len(tensors):
            raise RuntimeError(
                f"{_NAME} requires the explicit parameter state to match optimizer.param_groups "
                "ordering."
            )
        plan.append((live, saved, tensors[offset : offset + len(ids)]))
        offset += len(ids)
    extra = [k for k in saved_state if k not in used_ids]
    if extra:
        raise RuntimeError(
            f"{_NAME} requires swapin_optim_state['state'] to be keyed only by packed parameter "
            f"ids from param_groups[*]['params']; got extra keys {extra!r}."
        )

    original_state = optimizer.state
    snapshots = [dict(group) for group in optimizer.param_groups]
    try:
        state: defaultdict[torch.Tensor, Any] = defaultdict(dict)
        for live, saved, params in plan:
            live["params"] = params
            live.update({k: v for k, v in saved.items() if k != "params"})
            for param, param_id in zip(params, saved["params"]):
                state[param] = dict(saved_state.get(param_id, {}))
        optimizer.state = state
        yield
    finally:
        for group, snapshot in zip(optimizer.param_groups, snapshots):
            group.clear()
            group.update(snapshot)
        optimizer.state = original_state
