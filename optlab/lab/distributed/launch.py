"""在一台机器上启动几个进程组成的“小集群”，把工作函数派给每个进程，收回各自的返回值。

实际训练常用 ``torchrun`` 命令启动进程；在笔记本里，这里改用 ``torch.multiprocessing`` 的 spawn 方式
启动 ``world_size`` 个进程。每个进程先 ``init_process_group``（CPU 上用 gloo，每个进程各有一块
GPU 时用 NCCL），然后等待作业：:meth:`Cluster.run` 把同一个函数发给所有进程，每个进程都执行它，
返回值按进程编号（rank）排成列表交回笔记本。进程只启动一次，之后的作业复用它们——spawn
一个带 torch 的进程要好几秒。

任何一个进程出错、意外退出，或超过时限没有交回结果，:meth:`Cluster.run` 都会抛出
:class:`DistributedError`，错误信息说明是哪个进程、出了什么事——笔记本不会一直卡住。
进程意外退出或超时时终止全部进程；报错时，若其余进程在几秒内都结束了这个作业，进程组保持可用，
否则同样终止全部进程。
被派发的函数必须能被导入（定义在模块里，而不是笔记本里）：spawn 出来的进程按名字找到它。
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import queue
import socket
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Self

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["Cluster", "DistributedError", "choose_backend", "current_device", "free_port"]


class DistributedError(RuntimeError):
    """分布式作业失败：某个进程报错、退出或超时。全部进程已被终止。

    ``summary`` 是一句中文说明；``details`` 是出错进程的回溯（超时或退出时为空）。
    """

    def __init__(self, summary: str, details: str = "") -> None:
        super().__init__(summary + (f"\n\n出错进程的回溯：\n{details}" if details else ""))
        self.summary = summary
        self.details = details


def free_port() -> int:
    """向操作系统要一个 127.0.0.1 上空闲的 TCP 端口（只在本机通信，不对外开放）。"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def choose_backend(world_size: int) -> str:
    """每个进程能分到一块 GPU 时用 NCCL，否则用 CPU 上的 gloo。"""
    if torch.cuda.is_available() and torch.cuda.device_count() >= world_size:
        return "nccl"
    return "gloo"


def current_device() -> torch.device:
    """本进程的计算设备：NCCL 时是编号等于 rank 的 GPU，gloo 时是 CPU。"""
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    """调用 ``fn``：成功时返回 ``("ok", 返回值)``，出错时返回 ``("error", 回溯文本)``，进程不会因此崩溃。"""
    try:
        return "ok", fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 -- 任何错误都要交回笔记本报告
        return "error", traceback.format_exc()


def _serve(
    rank: int, world_size: int, port: int, backend: str, timeout_s: float, jobs: Any, results: Any
) -> None:
    """每个进程的主循环：加入进程组，然后逐个执行派来的作业，直到收到 ``None``。"""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)  # 每个进程一个线程：2 核机器上两个进程互不抢核，结果也与核数无关
    if backend == "nccl":
        torch.cuda.set_device(rank)
    timeout = timedelta(seconds=timeout_s)  # 集合通信的时限：卡住的 all_reduce 最终也会报错
    status, value = _attempt(
        dist.init_process_group, backend, rank=rank, world_size=world_size, timeout=timeout
    )
    results.put(("ready" if status == "ok" else "error", rank, value, ""))
    if status == "error":
        return
    while (job := jobs.get()) is not None:
        fn, args, kwargs = job
        with contextlib.redirect_stdout(io.StringIO()) as printed:  # print 的内容也交回笔记本
            status, value = _attempt(fn, *args, **kwargs)
        results.put((status, rank, value, printed.getvalue()))
    dist.destroy_process_group()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


class Cluster:
    """``world_size`` 个进程组成的进程组；``run(fn, ...)`` 让每个进程执行 ``fn`` 并收回返回值。

    用法::

        with Cluster(world_size=2) as cluster:
            per_rank = cluster.run(ddp_demo, steps=3)   # [rank 0 的返回值, rank 1 的返回值]

    ``timeout`` 是每个作业的时限（秒），``start_timeout`` 是启动进程组的时限。
    一个进程报错后，其余进程还有 ``error_grace`` 秒交回结果：都交回了，进程组保持可用；
    否则（多半在等出错的进程参加集合通信）终止全部进程。
    """

    def __init__(self, world_size: int = 2, *, backend: str | None = None,
                 timeout: float = 120.0, start_timeout: float = 180.0, error_grace: float = 3.0) -> None:  # fmt: skip
        self.world_size = world_size
        self.error_grace = error_grace
        self.backend = backend or choose_backend(world_size)
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._procs: list = []
        self._jobs: list = []
        self._results = None

    # -- 启动与关闭 -------------------------------------------------------------
    @property
    def running(self) -> bool:
        return bool(self._procs)

    def start(self) -> Self:
        if self.running:
            return self
        ctx = mp.get_context("spawn")
        port = free_port()
        self._results = ctx.Queue()
        self._jobs = [ctx.Queue() for _ in range(self.world_size)]
        self._procs = [
            ctx.Process(target=_serve, daemon=True,
                        args=(rank, self.world_size, port, self.backend, self.timeout,
                              self._jobs[rank], self._results))
            for rank in range(self.world_size)
        ]
        for proc in self._procs:
            proc.start()
        atexit.register(self.close)
        self._collect("启动进程组", self.start_timeout)
        return self

    def close(self) -> None:
        """正常结束：通知每个进程退出；它们不退出就强行终止。"""
        if not self.running:
            return
        for jobs in self._jobs:
            jobs.put(None)
        deadline = time.monotonic() + 10
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        self._terminate()

    def _terminate(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self._procs:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._procs = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- 派发作业 ---------------------------------------------------------------
    def run(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None,
            **kwargs: Any) -> list[Any]:  # fmt: skip
        """每个进程执行 ``fn(*args, **kwargs)``；返回按 rank 排好的返回值列表。

        作业里 ``print`` 的内容随结果一起交回，按 rank 顺序打印在这里，每行前面标上 ``[rank r]``。
        """
        self.start()
        for jobs in self._jobs:
            jobs.put((fn, args, kwargs))
        what = f"作业 {fn.__name__} "
        try:
            return self._collect(what, self.timeout if timeout is None else timeout)
        except KeyboardInterrupt:  # 被中断时进程还在算这个作业：留着它们，旧结果会混进下一个作业
            self._terminate()
            raise

    def _collect(self, what: str, timeout: float) -> list[Any]:
        values: dict[int, Any] = {}
        errors: dict[int, str] = {}  # rank → 回溯
        printed: dict[int, str] = {}  # rank → 作业里 print 的内容
        try:
            return self._wait(what, timeout, values, errors, printed)
        finally:  # 无论成败，都按 rank 顺序转述各进程 print 的内容
            for rank in sorted(printed):
                for line in printed[rank].splitlines():
                    print(f"[rank {rank}] {line}")

    def _wait(self, what: str, timeout: float, values: dict[int, Any], errors: dict[int, str],
              printed: dict[int, str]) -> list[Any]:  # fmt: skip
        deadline = time.monotonic() + timeout
        while len(values) + len(errors) < self.world_size:
            if time.monotonic() > deadline:
                break
            try:
                status, rank, value, text = self._results.get(timeout=0.1)
            except queue.Empty:
                dead = [r for r, p in enumerate(self._procs)
                        if p.exitcode is not None and r not in values and r not in errors]  # fmt: skip
                if dead:
                    code = self._procs[dead[0]].exitcode
                    self._terminate()
                    raise DistributedError(
                        f"{what}失败：第 {dead[0]} 号进程意外退出（退出码 {code}）。"
                        f"已终止全部 {self.world_size} 个进程。"
                    ) from None
                continue
            if text:
                printed[rank] = text
            if status == "error":
                errors[rank] = value
                # 其余进程可能正等着出错的进程参加集合通信：只再等它们一小会儿
                deadline = min(deadline, time.monotonic() + self.error_grace)
            else:
                values[rank] = value
        if errors:
            rank, trace = min(errors.items())
            healthy = len(values) + len(errors) == self.world_size
            if not healthy:
                self._terminate()
            tail = ("其余进程都已结束这个作业，进程组仍可继续使用。" if healthy
                    else f"其余进程没有结束，已终止全部 {self.world_size} 个进程。")  # fmt: skip
            raise DistributedError(f"{what}失败：第 {rank} 号进程出错——{_last_line(trace)}。{tail}", trace)
        if len(values) < self.world_size:
            waiting = sorted(set(range(self.world_size)) - set(values))
            self._terminate()
            ranks = "、".join(str(r) for r in waiting)
            raise DistributedError(
                f"{what}超时：{timeout:g} 秒内第 {ranks} 号进程没有交回结果"
                f"（常见原因：各进程调用集合通信的次数或顺序不一致，有人在等一个永远不来的 all_reduce）。"
                f"已终止全部 {self.world_size} 个进程。"
            )
        return [values[r] for r in range(self.world_size)]
