"""分布式训练的实验室：在一台机器上用几个进程演示 DDP、ZeRO-1、FSDP2 与分布式检查点。

- :mod:`.launch`：启动进程组、派发作业、出错或超时时收场（:class:`Cluster`）；
- :mod:`.workers`：每个进程执行的工作函数（``ddp_demo``、``zero_demo``……）；
- :mod:`.memory`：每个进程上参数、梯度、状态的内存账与外推公式；
- :mod:`.plots`：内存堆叠柱状图与通信时间线示意图（用到时才导入 matplotlib）。
"""

from .launch import Cluster, DistributedError, choose_backend, current_device, free_port
from .memory import STRATEGIES, Memory, local_bytes, measure_memory, predicted_memory

__all__ = [
    "STRATEGIES",
    "Cluster",
    "DistributedError",
    "Memory",
    "choose_backend",
    "current_device",
    "free_port",
    "local_bytes",
    "measure_memory",
    "predicted_memory",
]
