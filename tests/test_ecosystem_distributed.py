"""torch.distributed（gloo，2 个 CPU 进程）驱动 optlab 的优化器，结果与 torch.optim 的同一段训练一致。

场景：DDP、``ZeroRedundancyOptimizer(optimizer_class=optlab.X)``、FSDP2 ``fully_shard``、
``torch.distributed.checkpoint`` 的 ``get_state_dict`` → save → load → ``set_state_dict`` → 继续训练。
为了少启动进程，全部场景在同一次 ``run_distributed`` 里跑完（两个库各跑一遍），各测试只检查结果。
"""

from __future__ import annotations

import copy
import traceback

import pytest
import torch
from distributed_support import run_distributed

STEPS = 3


def _lib(name: str):
    import optlab

    return optlab if name == "optlab" else torch.optim


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(100 * rank + step)
    return torch.randn(5, 6, generator=g), torch.randn(5, 2, generator=g)


def _train(model, opt, rank: int, steps, sched=None) -> None:
    for step in steps:
        x, y = _batch(rank, step)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


def _full(model) -> list[torch.Tensor]:
    """参数的完整副本（FSDP2 的 DTensor 先 gather 成完整张量）。"""
    out = []
    for p in model.parameters():
        t = p.detach()
        if hasattr(t, "full_tensor"):
            t = t.full_tensor()
        out.append(t.clone())
    return out


def _ddp(lib, rank):
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = DDP(_model())
    opt = lib.Adam(model.parameters(), lr=0.05, weight_decay=0.01)
    sched = lib.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    _train(model, opt, rank, range(STEPS), sched)
    return _full(model)


def _zero(lib, rank):
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = DDP(_model())
    opt = ZeroRedundancyOptimizer(
        model.parameters(), optimizer_class=lib.AdamW, lr=0.05, weight_decay=0.1
    )
    _train(model, opt, rank, range(STEPS))
    opt.consolidate_state_dict(to=0)
    steps = None
    if rank == 0:
        state = opt.state_dict()["state"]
        steps = sorted(float(s["step"]) for s in state.values())
    return _full(model), steps


def _fsdp2(lib, rank):
    from torch.distributed.fsdp import fully_shard

    model = _model()
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    opt = lib.Adam(model.parameters(), lr=0.05, foreach=True)
    _train(model, opt, rank, range(STEPS))
    return _full(model)


def _dcp(lib, rank, folder):
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    from torch.distributed.fsdp import fully_shard

    def build():
        model = _model()
        fully_shard(model)
        return model, lib.Adam(model.parameters(), lr=0.05, amsgrad=True)

    model, opt = build()
    _train(model, opt, rank, range(2))
    model_sd, optim_sd = get_state_dict(model, opt)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=f"{folder}/{lib.__name__}")

    model2, opt2 = build()
    model_sd2, optim_sd2 = get_state_dict(model2, opt2)
    target = {"model": model_sd2, "optim": optim_sd2}
    dcp.load(target, checkpoint_id=f"{folder}/{lib.__name__}")
    set_state_dict(model2, opt2, model_state_dict=target["model"], optim_state_dict=target["optim"])
    _train(model, opt, rank, range(2, 4))  # 不中断的参照
    _train(model2, opt2, rank, range(2, 4))  # 恢复后继续
    return _full(model), _full(model2)


def _dcp_flat(lib, rank):
    """不分片的模型 + 展平的 state_dict（以参数名为键），载入新实例后继续训练。"""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_state_dict,
        set_state_dict,
    )

    options = StateDictOptions(flatten_optimizer_state_dict=True)

    def build():
        model = _model()
        groups = [
            {"params": model[0].parameters(), "lr": 0.05},
            {"params": model[2].parameters(), "lr": 0.02},
        ]
        return model, lib.RMSprop(groups, momentum=0.5)

    model, opt = build()
    _train(model, opt, rank, range(2))
    # 深拷贝，相当于存盘再读回：否则载入后两个优化器共享同一批状态张量
    model_sd, optim_sd = copy.deepcopy(get_state_dict(model, opt, options=options))
    keys = sorted(optim_sd)
    model2, opt2 = build()
    set_state_dict(
        model2, opt2, model_state_dict=model_sd, optim_state_dict=optim_sd, options=options
    )
    _train(model, opt, rank, range(2, 4))
    _train(model2, opt2, rank, range(2, 4))
    return _full(model), _full(model2), keys


SCENARIOS = {"ddp": _ddp, "zero": _zero, "fsdp2": _fsdp2, "dcp": _dcp, "dcp_flat": _dcp_flat}


def all_scenarios(rank: int, world_size: int, folder: str) -> dict:
    """每个 rank：每个场景用 optlab 与 torch.optim 各跑一遍；失败的场景记下 traceback。"""
    results: dict = {}
    for name, scenario in SCENARIOS.items():
        for lib_name in ("torch", "optlab"):
            lib = _lib(lib_name)
            args = (lib, rank, folder) if name == "dcp" else (lib, rank)
            try:
                results[name, lib_name] = ("ok", scenario(*args))
            except Exception:  # noqa: BLE001
                results[name, lib_name] = ("error", traceback.format_exc())
    return results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dcp")
    return run_distributed(all_scenarios, world_size=2, args=(str(folder),), timeout=240)


def _get(results, rank, name, lib):
    status, value = results[rank][name, lib]
    assert status == "ok", f"{lib} {name} on rank {rank}:\n{value}"
    return value


def _close(a, b):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["ddp", "fsdp2"])
def test_matches_torch(results, name):
    for rank in range(2):
        _close(_get(results, rank, name, "optlab"), _get(results, rank, name, "torch"))
    # 数据并行：两个 rank 的参数必须一致
    _close(_get(results, 0, name, "optlab"), _get(results, 1, name, "optlab"))


def test_zero_redundancy_optimizer(results):
    for rank in range(2):
        ours, ours_steps = _get(results, rank, "zero", "optlab")
        theirs, their_steps = _get(results, rank, "zero", "torch")
        _close(ours, theirs)
        assert ours_steps == their_steps
    assert _get(results, 0, "zero", "optlab")[1] == [float(STEPS)] * 4


def test_checkpoint_save_load_continue(results):
    for rank in range(2):
        straight, resumed = _get(results, rank, "dcp", "optlab")
        _close(resumed, straight)
        _close(straight, _get(results, rank, "dcp", "torch")[0])


def test_flattened_state_dict(results):
    for rank in range(2):
        straight, resumed, keys = _get(results, rank, "dcp_flat", "optlab")
        _close(resumed, straight)
        theirs = _get(results, rank, "dcp_flat", "torch")
        _close(straight, theirs[0])
        assert keys == theirs[2]
        assert "state.0.weight.square_avg" in keys and "param_groups.2.weight.lr" in keys


def test_run_distributed_reports_errors_and_timeouts():
    # rank 1 出错而 rank 0 挂住：立刻带着 rank 1 的 traceback 失败，挂住的进程被终止
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        run_distributed(_fails_or_hangs, world_size=2, args=(1,), timeout=60)
    # 两个 rank 都挂住：超时失败
    with pytest.raises(TimeoutError):
        run_distributed(_fails_or_hangs, world_size=2, args=(None,), timeout=3)


def _fails_or_hangs(rank, world_size, failing_rank):
    import time

    if rank == failing_rank:
        return 1 / 0
    time.sleep(120)
