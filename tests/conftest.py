"""测试公共设置：每个测试前固定所有随机种子。

注意：不要在这里设置 MPLBACKEND 环境变量——nbval 启动的内核会继承它，
笔记本里的图就不再以内联图片输出，与保存的输出对不上。需要无界面后端的测试自己调用
matplotlib.use("Agg")。
"""

import random

import numpy as np
import pytest
import torch

import optlab._fused

# fused=True 的编译内核只在 tests/test_fused*.py 里核对（每种选项组合要编译几秒）；
# 其余测试核对 fused 的语义（报错、状态布局、数值），走同样的 foreach 回退路径
optlab._fused.COMPILE = False


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def single_thread():
    """张量都很小：多线程只有调度开销，机器繁忙时还会慢上几十倍，所以测试期间只用一个线程。"""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
