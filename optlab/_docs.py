"""各优化器 ``__doc__`` 的 Args 一节：按构造函数签名（即 torch 的参数顺序）从这张表生成，写一次。"""

from __future__ import annotations

import inspect

#: 参数名 → 说明；子类可用 ``arg_docs`` 覆盖（同名参数在不同算法里含义不同时）
ARG_DOCS = {
    "params": "要优化的张量（或 (名字, 张量) 对）的可迭代对象，或参数组 dict 的列表",
    "lr": "学习率 γ；float 或 1 元素张量",
    "momentum": "动量系数 μ",
    "dampening": "动量的阻尼 τ：新梯度进入动量缓冲时乘 1-τ",
    "weight_decay": "权重衰减 λ",
    "nesterov": "是否用 Nesterov 动量",
    "maximize": "为 True 时沿梯度方向上升（最大化目标）",
    "foreach": "是否走多张量（foreach）路径；None 时参数全在 GPU 上才走",
    "differentiable": "是否让 step 本身可求导（梯度能流到张量超参数与初始参数）；会慢一些",
    "fused": "是否走融合路径（数值与 foreach 一致）",
    "betas": "(β₁, β₂)：一阶矩与二阶矩的指数移动平均系数",
    "eps": "ε：加在分母上，防止除以零",
    "amsgrad": "是否用 AMSGrad：分母用历史最大的二阶矩",
    "capturable": "step 与超参数是否留在设备上（可被 CUDA Graph 捕获）",
    "decoupled_weight_decay": "为 True 时权重衰减直接作用在参数上（AdamW 的做法）",
    "lr_decay": "学习率衰减 η：第 t 步的学习率为 γ / (1 + (t-1)η)",
    "initial_accumulator_value": "梯度平方和 s 的初值 τ",
    "rho": "ρ：梯度平方与更新量平方的指数移动平均系数",
    "alpha": "α：梯度平方的指数移动平均系数",
    "centered": "是否减去梯度均值的平方（用方差而不是二阶矩归一化）",
    "lambd": "衰减项 λ",
    "t0": "从第几步开始平均",
    "momentum_decay": "ψ：动量系数 μ_t 随步数升到 β₁ 的快慢",
    "etas": "(η₋, η₊)：梯度变号 / 同号时步长的缩放倍数",
    "step_sizes": "(Γ_min, Γ_max)：每个坐标步长的下限与上限",
    "beta2_decay": "τ ≤ 0：β̂₂ = 1 - t^τ 随步数趋近 1 的快慢",
    "d": "更新裁剪阈值：RMS(U) 超过 d 时整体缩小",
    "ns_coefficients": "Newton–Schulz 五次迭代的系数 (a, b, c)",
    "ns_steps": "Newton–Schulz 迭代次数",
    "adjust_lr_fn": "按矩阵形状调整学习率的方式：None/\"original\" 或 \"match_rms_adamw\"",
    "max_iter": "每次 step 最多迭代几次",
    "max_eval": "每次 step 最多求值几次（None 时为 max_iter 的 1.25 倍）",
    "tolerance_grad": "梯度的一阶最优性阈值：max|g| 不超过它就停止",
    "tolerance_change": "函数值或参数变化的阈值：小于它就停止",
    "history_size": "保留最近几对 (s, y)",
    "line_search_fn": "None（固定步长）或 \"strong_wolfe\"",
}


def args_section(cls: type) -> str:
    """构造函数每个参数一行：名字、默认值、说明。"""
    docs = {**ARG_DOCS, **getattr(cls, "arg_docs", {})}
    lines = ["Args:"]
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name == "self":
            continue
        default = "" if param.default is inspect.Parameter.empty else f"（默认 {param.default!r}）"
        lines.append(f"    {name}: {docs.get(name, '')}{default}")
    return "\n".join(lines)
