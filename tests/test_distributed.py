"""分布式训练（第 12 节）：两个 gloo 进程里，optlab 与 torch.optim 在 DDP、ZeRO-1、FSDP2 下逐位相同；
分布式检查点保存 → 读回 → 接着训练等于一口气训练；进程出错、退出、卡住都在时限内收场。

spawn 一个带 torch 的进程要好几秒，所以整个模块共用一个两进程的 ``Cluster``；
会终止进程组的失败情形放在最后（之后的作业会自动重新启动进程组）。
"""

from __future__ import annotations

import socket
import time

import pytest
import torch
import torch.distributed as dist

import optlab
from optlab.lab.distributed import (
    STRATEGIES,
    Cluster,
    DistributedError,
    choose_backend,
    free_port,
    measure_memory,
    predicted_memory,
    workers,
)
from optlab.lab.distributed.scaling import scaled_lr
from optlab.lab.state_memory import state_size

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed 或 gloo 不可用"
)

CONFIGS = [
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "foreach": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
]


@pytest.fixture(scope="module")
def cluster():
    with Cluster(world_size=2, backend="gloo", timeout=120) as c:
        yield c


# -- 不需要进程的部分 --------------------------------------------------------------
def test_free_port_is_bindable_on_localhost():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_backend_is_gloo_without_enough_gpus():
    if torch.cuda.is_available() and torch.cuda.device_count() >= 2:
        assert choose_backend(2) == "nccl"
    else:
        assert choose_backend(2) == "gloo"


def test_predicted_memory_formulas():
    p = 1000
    assert predicted_memory("DDP", p, 4).total == 16 * p
    assert predicted_memory("ZeRO-1", p, 4) == predicted_memory("ZeRO-1", p, 4).__class__(4 * p, 4 * p, 2 * p)
    assert predicted_memory("FSDP2", p, 4).total == 4 * p
    assert predicted_memory("DDP", p, 1) == predicted_memory("FSDP2", p, 1) == predicted_memory("ZeRO-1", p, 1)
    with pytest.raises(ValueError):
        predicted_memory("ZeRO-3", p, 2)


def test_measure_memory_agrees_with_state_memory_accounting():
    model = workers.make_model()
    opt = optlab.AdamW(model.parameters(), lr=1e-2)
    workers.train(model, opt, range(2), sharded_data=False)
    mem = measure_memory(model, opt)
    size = state_size(opt)
    n = sum(p.numel() for p in model.parameters())
    assert mem.params == mem.grads == 4 * n
    assert mem.state == size.buffer_bytes + size.scalar_bytes
    assert mem.state == predicted_memory("DDP", n, 1).state + 4 * len(list(model.parameters()))


def test_scaled_lr_rules():
    assert scaled_lr(0.1, 4, "不缩放") == 0.1
    assert scaled_lr(0.1, 4, "平方根") == pytest.approx(0.2)
    assert scaled_lr(0.1, 4, "线性") == pytest.approx(0.4)


# -- 两个进程 ----------------------------------------------------------------------
def test_prints_in_workers_come_back_in_rank_order(cluster, capsys):
    assert cluster.run(workers.hello) == [0, 1]
    lines = capsys.readouterr().out.splitlines()
    assert [line[:8] for line in lines] == ["[rank 0]", "[rank 1]"]
    assert all("all_reduce 求和得到 1" in line for line in lines)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_optlab_matches_torch_optim(cluster, strategy):
    for name, options in CONFIGS:
        per_rank = cluster.run(workers.parity_demo, strategy, name, **options)
        assert [r["rank"] for r in per_rank] == [0, 1]
        assert all(r["equal"] for r in per_rank), (strategy, name, options, per_rank)


def test_ddp_averages_gradients_and_keeps_ranks_identical(cluster):
    per_rank = cluster.run(workers.ddp_demo, steps=3)
    assert per_rank[0]["local_grad"] != per_rank[1]["local_grad"]
    assert per_rank[0]["synced_grad"] == per_rank[1]["synced_grad"]
    for r in per_rank:
        assert r["synced_is_whole_batch_grad"]
        assert r["params_same_on_all_ranks"] and r["state_same_on_all_ranks"]
        assert not r["params_same_without_allreduce"]
        assert r["diff_from_single_process"] < 1e-4


def test_zero_shards_the_optlab_state(cluster):
    per_rank = cluster.run(workers.zero_demo, steps=3)
    plain = per_rank[0]["plain_state_bytes"]
    assert all(r["inner_type"] == "optlab.adamw.AdamW" for r in per_rank)
    assert sum(r["state_bytes"] for r in per_rank) == plain
    assert all(0 < r["state_bytes"] < plain for r in per_rank)
    assert not set(per_rank[0]["owned"]) & set(per_rank[1]["owned"])
    assert per_rank[0]["consolidated"] == {"entries": 8, "bytes": plain}
    assert all(r["same_as_plain_adamw"] and r["params_same_on_all_ranks"] for r in per_rank)


def test_fsdp2_state_is_sharded_dtensor(cluster):
    per_rank = cluster.run(workers.fsdp_demo, steps=3)
    n = sum(p.numel() for p in workers.make_model().parameters())
    for r in per_rank:
        assert r["param_type"] == r["grad_type"] == "DTensor"
        assert r["state_types"] == {"step": "Tensor", "exp_avg": "DTensor", "exp_avg_sq": "DTensor"}
        assert all(local[0] * 2 == shape[0] for _, shape, local, _ in r["shards"])
        assert r["norm_is_full_norm"] and r["local_norm_is_smaller"]
        assert r["diff_from_single_process"] < 1e-4
        assert r["memory"].params == predicted_memory("FSDP2", n, 2).params


def test_dcp_save_load_resume_equals_uninterrupted(cluster, tmp_path):
    assert issubclass(optlab.AdamW, torch.optim.Optimizer), "get_state_dict 要求优化器是 torch.optim.Optimizer"
    per_rank = cluster.run(workers.dcp_demo, str(tmp_path / "ckpt"), steps=6, save_at=3)
    for r in per_rank:
        assert r["resumed_equals_uninterrupted"]
        assert r["files"] == [".metadata", "__0_0.distcp", "__1_0.distcp"]
        assert r["state_value_type"] == "DTensor"
        assert "2.weight" in r["optim_state_keys"]


# -- 失败情形（后三个会终止进程组，放在最后；之后的作业会自动重新启动进程组）--------------
def test_an_exception_in_one_rank_is_reported(cluster):
    with pytest.raises(DistributedError) as info:
        cluster.run(workers.fail_demo)
    assert "第 1 号进程出错" in info.value.summary and "ValueError" in info.value.summary
    assert "仍可继续使用" in info.value.summary
    assert "Traceback" in info.value.details
    assert cluster.running  # 0 号进程正常交回了结果：进程组没有坏
    per_rank = cluster.run(workers.parity_demo, "DDP", "SGD", lr=0.1)  # 同一批进程接着干活
    assert all(r["equal"] for r in per_rank)


def test_an_exception_while_a_peer_waits_terminates_all(cluster):
    start = time.monotonic()
    with pytest.raises(DistributedError) as info:
        cluster.run(workers.stuck_peer_demo)
    assert "第 1 号进程出错" in info.value.summary and "已终止全部 2 个进程" in info.value.summary
    assert time.monotonic() - start < cluster.error_grace + 20
    assert not cluster.running


def test_a_hung_collective_ends_within_the_time_limit(cluster):
    cluster.start()  # 上一个测试终止了进程组：先重新启动，再计时
    start = time.monotonic()
    with pytest.raises(DistributedError, match="超时"):
        cluster.run(workers.hang_demo, timeout=3)
    assert time.monotonic() - start < 3 + 20  # 时限 + 终止进程（先 SIGTERM，2 秒后 SIGKILL）+ 余量
    assert not cluster.running


def test_a_process_that_dies_is_reported(cluster):
    with pytest.raises(DistributedError, match="第 1 号进程意外退出（退出码 3）"):
        cluster.run(workers.crash_demo, timeout=60)
    assert not cluster.running
