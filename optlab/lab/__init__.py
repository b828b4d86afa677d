"""optlab.lab：教材用的实验室——地形、轨迹、数据、状态内存账、绘图与交互控件、
练习自检、中文表格，以及分布式训练的两进程演示。

它建立在核心（``optlab`` 的优化器、调度器、swa_utils）之上，只单向依赖核心；
核心从不导入这里的任何东西。依赖 matplotlib、ipywidgets、scikit-learn（见 pyproject 的 ``lab`` 组）。
"""
