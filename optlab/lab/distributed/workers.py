"""每个进程执行的工作函数（由 :class:`~optlab.lab.distributed.launch.Cluster` 派发）。

每个函数在 ``world_size`` 个进程里同时运行：先用 ``dist.get_rank()`` 知道自己是谁，
训练同一个小网络，最后返回一个只含数字、字符串和布尔值的字典，交回笔记本打印。
数据由固定种子生成：每个进程都能生成同一份“全局批量”，再按 rank 取自己那一份。
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import optlab

from ..state_memory import state_size
from .launch import current_device
from .memory import measure_memory

__all__ = [
    "GLOBAL_BATCH",
    "batch",
    "crash_demo",
    "dcp_demo",
    "ddp_demo",
    "fail_demo",
    "fsdp_demo",
    "hang_demo",
    "hello",
    "make_model",
    "parity_demo",
    "stuck_peer_demo",
    "zero_demo",
]

GLOBAL_BATCH = 64  # 每一步所有进程合起来处理的样本数


# -- 公共的小零件 ----------------------------------------------------------------
def make_model(seed: int = 0) -> nn.Sequential:
    """32 → 128 → 128 → 128 → 8 的多层感知机（约 3.8 万个参数），同一个种子给出同样的初始权重。"""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(32, 128), nn.Tanh(),
        nn.Linear(128, 128), nn.Tanh(),
        nn.Linear(128, 128), nn.Tanh(),
        nn.Linear(128, 8),
    )  # fmt: skip


def batch(step: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """第 ``step`` 步的全局批量：由步数决定的固定随机数，每个进程生成的完全一样。"""
    gen = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(GLOBAL_BATCH, 32, generator=gen)
    y = torch.randn(GLOBAL_BATCH, 8, generator=gen)
    return x.to(device), y.to(device)


def my_share(tensor: torch.Tensor) -> torch.Tensor:
    """本进程分到的那一份样本：第 rank、rank+N、rank+2N……个。"""
    return tensor[dist.get_rank() :: dist.get_world_size()]


def train(model: nn.Module, optimizer: Any, steps: range, *, sharded_data: bool = True) -> None:
    """按 ``steps`` 里的步数训练；``sharded_data=False`` 时用整个全局批量（单进程的参照）。"""
    device = current_device()
    for step in steps:
        x, y = batch(step, device)
        if sharded_data:
            x, y = my_share(x), my_share(y)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


def full(tensor: torch.Tensor) -> torch.Tensor:
    """DTensor 拼回完整张量（会触发一次 all-gather）；普通张量原样返回。"""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


def flat(tensors) -> torch.Tensor:
    return torch.cat([full(t).detach().reshape(-1).cpu() for t in tensors])


def same_on_all_ranks(tensor: torch.Tensor) -> bool:
    """各进程的这个张量是否逐位相同：all-gather 到每个进程，再和 0 号进程的比。"""
    tensor = tensor.to(current_device())  # NCCL 只能在 GPU 张量上通信
    gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, tensor)
    return all(torch.equal(gathered[0], t) for t in gathered)


def optimizer_state(optimizer: Any) -> list[torch.Tensor]:
    return [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.ndim > 0]


def single_process_reference(optimizer_cls: Any, steps: int, **options: Any) -> nn.Module:
    """不分布式：一个进程用整个全局批量训练同一个模型，作为对照。"""
    model = make_model().to(current_device())
    train(model, optimizer_cls(model.parameters(), **options), range(steps), sharded_data=False)
    return model


# -- 0. 打个招呼 -----------------------------------------------------------------
def hello() -> int:
    """每个进程报上自己的编号，再用一次 all_reduce 把各进程的编号加起来。"""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    total = torch.tensor([float(rank)], device=current_device())
    dist.all_reduce(total)  # 默认求和：每个进程都得到 0 + 1 + … + (N-1)
    device = current_device().type
    print(f"我是第 {rank} 号进程，共 {world_size} 个进程，设备 {device}；", end="")
    print(f"all_reduce 求和得到 {total.item():g}")
    return rank


# -- 1. DDP --------------------------------------------------------------------
def ddp_demo(steps: int = 3, lr: float = 1e-2) -> dict[str, Any]:
    """DDP：本地梯度各不相同，all-reduce 之后处处相同；step 之后参数与状态也处处相同。"""
    from torch.nn.parallel import DistributedDataParallel as DDP

    device = current_device()
    model = make_model().to(device)
    ddp = DDP(model)
    opt = optlab.AdamW(ddp.parameters(), lr=lr)

    x, y = batch(0, device)
    x_mine, y_mine = my_share(x), my_share(y)
    with ddp.no_sync():  # 先不同步：看看每个进程自己算出的梯度
        nn.functional.mse_loss(ddp(x_mine), y_mine).backward()
    local_grad = flat(p.grad for p in model.parameters())
    opt.zero_grad()
    nn.functional.mse_loss(ddp(x_mine), y_mine).backward()  # 这一次 backward 里 DDP 做了 all-reduce
    synced_grad = flat(p.grad for p in model.parameters())

    whole = make_model().to(device)  # 单进程、整个批量的梯度
    nn.functional.mse_loss(whole(x), y).backward()
    whole_grad = flat(p.grad for p in whole.parameters())

    opt.step()
    train(ddp, opt, range(1, steps))
    reference = single_process_reference(optlab.AdamW, steps, lr=lr)

    lonely = DDP(make_model().to(device))  # 反例：跳过 all-reduce，各自按本地梯度 step
    lonely_opt = optlab.AdamW(lonely.parameters(), lr=lr)
    with lonely.no_sync():
        nn.functional.mse_loss(lonely(x_mine), y_mine).backward()
    lonely_opt.step()
    return {
        "rank": dist.get_rank(),
        "samples": len(x_mine),
        "local_grad": local_grad[:3].tolist(),
        "synced_grad": synced_grad[:3].tolist(),
        "synced_is_whole_batch_grad": torch.allclose(synced_grad, whole_grad, rtol=1e-4, atol=1e-7),
        "params_same_on_all_ranks": same_on_all_ranks(flat(model.parameters())),
        "state_same_on_all_ranks": same_on_all_ranks(flat(optimizer_state(opt))),
        "diff_from_single_process": (flat(model.parameters()) - flat(reference.parameters())).abs().max().item(),
        "params_same_without_allreduce": same_on_all_ranks(flat(lonely.parameters())),
        "memory": measure_memory(model, opt),
    }


# -- 2. ZeRO-1 -----------------------------------------------------------------
def zero_demo(steps: int = 3, lr: float = 1e-2) -> dict[str, Any]:
    """ZeRO-1：每个进程只为自己分到的参数建 AdamW 状态；保存前先把状态汇总到 0 号进程。"""
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel as DDP

    device = current_device()
    model = make_model().to(device)
    ddp = DDP(model)
    zero = ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=optlab.AdamW, lr=lr)
    train(ddp, zero, range(steps))

    names = {id(p): name for name, p in model.named_parameters()}
    mine = [p for group in zero.optim.param_groups for p in group["params"]]
    local = state_size(zero.optim)  # zero.optim 就是本进程那个普通的 optlab.AdamW

    plain_model = make_model().to(device)  # 对照：DDP + 不切分的 AdamW
    plain_ddp = DDP(plain_model)
    plain = optlab.AdamW(plain_ddp.parameters(), lr=lr)
    train(plain_ddp, plain, range(steps))

    zero.consolidate_state_dict(to=0)  # 集合通信：每个进程都要调用
    consolidated = None
    if dist.get_rank() == 0:
        sd = zero.state_dict()
        consolidated = {
            "entries": len(sd["state"]),
            "bytes": sum(
                t.numel() * t.element_size()
                for s in sd["state"].values()
                for t in s.values()
                if torch.is_tensor(t)
            ),
        }
    return {
        "rank": dist.get_rank(),
        "inner_type": f"{type(zero.optim).__module__}.{type(zero.optim).__name__}",
        "owned": [names[id(p)] for p in mine],
        "owned_numel": sum(p.numel() for p in mine),
        "state_bytes": local.buffer_bytes + local.scalar_bytes,
        "plain_state_bytes": state_size(plain).buffer_bytes + state_size(plain).scalar_bytes,
        "same_as_plain_adamw": torch.equal(flat(model.parameters()), flat(plain_model.parameters())),
        "params_same_on_all_ranks": same_on_all_ranks(flat(model.parameters())),
        "consolidated": consolidated,
        "memory": measure_memory(model, zero.optim),
    }


# -- 3. FSDP2 ------------------------------------------------------------------
def shard_model(model: nn.Module) -> nn.Module:
    """FSDP2：每个 Linear 层各自切分，再把整个模型包一层（管剩下的参数、安排通信）。"""
    from torch.distributed.fsdp import fully_shard

    for layer in model:
        if isinstance(layer, nn.Linear):
            fully_shard(layer)
    return fully_shard(model)


def fsdp_demo(steps: int = 3, lr: float = 1e-2, foreach: bool | None = None) -> dict[str, Any]:
    """FSDP2：参数、梯度、AdamW 状态都是 DTensor 分片；optlab 的逐元素运算只碰本地那一片。"""
    device = current_device()
    model = shard_model(make_model().to(device))
    opt = optlab.AdamW(model.parameters(), lr=lr, foreach=foreach)
    train(model, opt, range(steps))

    first = next(iter(model.parameters()))
    state = opt.state[first]
    weight = model[2].weight  # 第二个 Linear 的权重：一个 DTensor
    reference = single_process_reference(optlab.AdamW, steps, lr=lr)
    return {
        "rank": dist.get_rank(),
        "shards": [
            (name, tuple(p.shape), tuple(p.to_local().shape), str(p.placements[0]))
            for name, p in model.named_parameters()
        ],
        "param_type": type(first).__name__,
        "grad_type": type(first.grad).__name__,
        "state_types": {k: type(v).__name__ for k, v in state.items()},
        "state_local_shape": tuple(state["exp_avg"].to_local().shape),
        "diff_from_single_process": (flat(model.parameters()) - flat(reference.parameters())).abs().max().item(),
        # LARS/LAMB 要的“整层范数”：对 DTensor 求范数会自动在各分片之间求和
        "norm_type": type(weight.norm()).__name__,
        "norm_is_full_norm": torch.allclose(full(weight.norm()), reference[2].weight.norm(), rtol=1e-5),
        "local_norm_is_smaller": bool(weight.to_local().norm() < full(weight.norm())),
        "memory": measure_memory(model, opt),
    }


# -- 4. 分布式检查点（DCP）---------------------------------------------------------
def dcp_demo(path: str, steps: int = 6, save_at: int = 3, lr: float = 1e-2) -> dict[str, Any]:
    """FSDP2 + optlab.AdamW：训练到一半保存、新建模型与优化器、读回、接着训练，与一口气训练逐位相同。"""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    def fresh():
        model = shard_model(make_model().to(current_device()))
        return model, optlab.AdamW(model.parameters(), lr=lr)

    model, opt = fresh()  # 一口气训练 steps 步
    train(model, opt, range(steps))
    uninterrupted = flat(model.parameters())

    model, opt = fresh()  # 训练 save_at 步后保存
    train(model, opt, range(save_at))
    model_sd, optim_sd = get_state_dict(model, opt)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=path)
    optim_keys = sorted(optim_sd["state"])

    model, opt = fresh()  # 像重新启动的程序一样：新模型、新优化器，再读回
    model_sd, optim_sd = get_state_dict(model, opt)
    to_load = {"model": model_sd, "optim": optim_sd}
    dcp.load(to_load, checkpoint_id=path)
    set_state_dict(model, opt, model_state_dict=to_load["model"], optim_state_dict=to_load["optim"])
    train(model, opt, range(save_at, steps))
    resumed = flat(model.parameters())
    dist.barrier()
    return {
        "rank": dist.get_rank(),
        "files": sorted(os.listdir(path)),
        "optim_state_keys": optim_keys,
        "state_value_type": type(optim_sd["state"][optim_keys[0]]["exp_avg"]).__name__,
        "resumed_equals_uninterrupted": torch.equal(resumed, uninterrupted),
    }


# -- 测试用：optlab 与 torch.optim 在同一种并行方式下逐位对照 ---------------------------
def parity_demo(strategy: str, optimizer: str = "AdamW", steps: int = 3, **options: Any) -> dict[str, Any]:
    """同一种并行方式（``"DDP"``、``"ZeRO-1"``、``"FSDP2"``）下分别用 torch.optim 与 optlab 训练，比较参数。"""
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel as DDP

    results = {}
    for lib in (torch.optim, optlab):
        cls = getattr(lib, optimizer)
        model = make_model().to(current_device())
        if strategy == "DDP":
            wrapped = DDP(model)
            opt = cls(wrapped.parameters(), **options)
        elif strategy == "ZeRO-1":
            wrapped = DDP(model)
            opt = ZeroRedundancyOptimizer(wrapped.parameters(), optimizer_class=cls, **options)
        elif strategy == "FSDP2":
            wrapped = shard_model(model)
            opt = cls(wrapped.parameters(), **options)
        else:
            raise ValueError(f"未知的并行方式 {strategy!r}")
        train(wrapped, opt, range(steps))
        results[lib.__name__] = flat(model.parameters())
    a, b = results["torch.optim"], results["optlab"]
    return {"rank": dist.get_rank(), "equal": torch.equal(a, b), "max_abs_diff": (a - b).abs().max().item()}


# -- 出错与卡住：启动器怎样收场 -------------------------------------------------------
def fail_demo() -> str:
    """1 号进程抛出异常。"""
    if dist.get_rank() == 1:
        raise ValueError("1 号进程的数据文件不存在（故意制造的错误）")
    return "ok"


def stuck_peer_demo() -> str:
    """1 号进程出错，0 号进程却还在 all_reduce 里等它。"""
    if dist.get_rank() == 1:
        raise ValueError("1 号进程出错，没有参加 all_reduce")
    dist.all_reduce(torch.ones(1, device=current_device()))
    return "done"


def hang_demo() -> str:
    """0 号进程做 all_reduce，1 号进程却直接返回：0 号进程会一直等下去。"""
    if dist.get_rank() == 0:
        dist.all_reduce(torch.ones(1, device=current_device()))
    return "done"


def crash_demo() -> str:
    """1 号进程不报错、直接退出（像被系统杀掉一样），来不及交回任何消息。"""
    if dist.get_rank() == 1:
        os._exit(3)
    return "ok"
