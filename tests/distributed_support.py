"""在测试里启动 N 个 gloo 进程（CPU）运行同一个函数，收集各进程的返回值；挂住就按超时失败。

用法::

    from distributed_support import run_distributed

    def worker(rank, world_size, scale):      # 必须是模块顶层函数（spawn 要能按名字导入）
        import torch.distributed as dist
        t = torch.full((1,), float(rank))
        dist.all_reduce(t)
        return t.item() * scale               # 返回值要能 pickle（张量也行）

    results = run_distributed(worker, world_size=2, args=(10,), timeout=60)
    assert results == [10.0, 10.0]            # 按 rank 排列

每个子进程用 ``spawn`` 启动（不继承父进程的线程与锁），``OMP_NUM_THREADS=1``，
在 ``init_process_group("gloo")`` 之后调用 ``fn(rank, world_size, *args)``，最后销毁进程组。
子进程里的异常连同完整的 traceback 在父进程里以 ``RuntimeError`` 抛出；
超过 ``timeout`` 秒没有全部返回时终止所有子进程并抛 ``TimeoutError``。
"""

from __future__ import annotations

import os
import pickle
import queue
import socket
import sys
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch.multiprocessing as mp

__all__ = ["free_port", "run_distributed"]


def free_port() -> int:
    """向系统要一个当前空闲的本机 TCP 端口。"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(
    fn: Callable, rank: int, world_size: int, port: int, args: tuple, timeout: float, out: Any
) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world_size,
            timeout=timedelta(seconds=timeout),
        )
        try:
            result = fn(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        out.put((rank, True, pickle.dumps(result)))
    except BaseException:  # noqa: BLE001  任何失败都要带着 traceback 交回父进程
        out.put((rank, False, traceback.format_exc()))


def run_distributed(
    fn: Callable[..., Any],
    world_size: int = 2,
    args: tuple = (),
    timeout: float = 120.0,
) -> list[Any]:
    """在 ``world_size`` 个 gloo 进程里运行 ``fn(rank, world_size, *args)``，按 rank 返回结果。"""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = free_port()
    # 子进程要能按模块名导入 fn：把 fn 所在目录放进 sys.path（spawn 会把 sys.path 传给子进程）
    module = sys.modules.get(fn.__module__)
    folder = os.path.dirname(os.path.abspath(getattr(module, "__file__", "") or "."))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    procs = [
        ctx.Process(
            target=_child,
            args=(fn, rank, world_size, port, args, timeout, out),
            daemon=True,
        )
        for rank in range(world_size)
    ]
    for p in procs:
        p.start()
    results: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    finished = False
    try:
        while len(results) < world_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{fn.__name__}: only ranks {sorted(results)} of {world_size} finished "
                    f"within {timeout:.0f} s"
                )
            try:
                rank, ok, payload = out.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                dead = [i for i, p in enumerate(procs) if p.exitcode not in (None, 0)]
                if dead and not any(i in results for i in dead):
                    raise RuntimeError(
                        f"{fn.__name__}: rank(s) {dead} died with exit code "
                        f"{[procs[i].exitcode for i in dead]}"
                    ) from None
                continue
            if not ok:
                raise RuntimeError(f"{fn.__name__} failed on rank {rank}:\n{payload}")
            results[rank] = pickle.loads(payload)
        finished = True
    finally:
        for p in procs:
            if finished:  # 正常结束：给子进程一点时间退出；失败或超时：立即终止，不再等待
                p.join(timeout=10)
            if p.is_alive():
                p.kill()
            p.join()
        out.close()
    return [results[rank] for rank in range(world_size)]
