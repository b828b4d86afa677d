r"""强 Wolfe 线搜索（三次插值），供 ``LBFGS(line_search_fn="strong_wolfe")`` 使用。

沿方向 d 找步长 t，使 :math:`\phi(t) = f(\theta + t d)` 同时满足

.. math::
    \phi(t) \le \phi(0) + c_1 t\, \phi'(0) \quad(\text{充分下降}), \qquad
    |\phi'(t)| \le -c_2\, \phi'(0) \quad(\text{曲率条件，“强”指取绝对值})。

两个阶段（Nocedal & Wright《Numerical Optimization》算法 3.5/3.6，做法与 minFunc 相同）：

1. **找区间**：从初始 t 出发，不满足条件就用三次插值向外外推（最多放大 10 倍），
   直到某个区间 [t_lo, t_hi] 里一定有满足条件的点；
2. **缩区间（zoom）**：在区间里用三次插值取新点，不断收缩，直到满足强 Wolfe 条件、区间足够小，
   或评估次数用完。插值点太靠近端点时挪开一点（“进展不足”保护）。

每个探测点记下 (t, φ(t), ∇f, φ'(t))。与 torch 一致，数值类型（Python 数 / 0 维张量）原样保留，
以便逐步复现 torch 的轨迹。
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["cubic_interpolate", "strong_wolfe"]


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """过两点 (x, f, f') 的三次多项式在 ``bounds``（默认两点之间）内的极小点。"""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    # 三次式没有实极小点时取中点；写成 ``not >= 0``，让溢出得到的 nan 也取中点（与 torch 相同）
    if not d2_square >= 0:
        return (lo + hi) / 2.0
    d2 = d2_square.sqrt()
    if x1 <= x2:
        argmin = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        argmin = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(argmin, lo), hi)


@dataclass
class _Probe:
    """线搜索的一个探测点：步长、函数值、梯度、方向导数。"""

    t: Any
    f: Any
    g: torch.Tensor
    gtd: Any


def strong_wolfe(
    evaluate: Callable[[Any], tuple[float, torch.Tensor]],
    t,
    d: torch.Tensor,
    f: float,
    g: torch.Tensor,
    gtd,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
):
    """返回 ``(f_new, g_new, t, 评估次数)``。``evaluate(t)`` 给出 θ + t·d 处的损失与平坦梯度。"""
    d_norm = d.abs().max()

    def probe(step):
        f_new, g_new = evaluate(step)
        return _Probe(step, f_new, g_new, g_new.dot(d))

    def sufficient_decrease_fails(p: _Probe) -> bool:
        return p.f > f + c1 * p.t * gtd

    def curvature_ok(p: _Probe) -> bool:
        return abs(p.gtd) <= -c2 * gtd

    start = _Probe(0, f, g.clone(memory_format=torch.contiguous_format), gtd)
    prev, cur = start, probe(t)
    evals, ls_iter, done = 1, 0, False

    # ---- 阶段 1：找一个包含可接受步长的区间
    bracket: list[_Probe] = []
    while ls_iter < max_ls:
        if sufficient_decrease_fails(cur) or (ls_iter > 1 and cur.f >= prev.f):
            bracket = [prev, cur]
            break
        if curvature_ok(cur):
            bracket, done = [cur], True
            break
        if cur.gtd >= 0:  # 已经越过极小点
            bracket = [prev, cur]
            break
        # 向外外推：新步长至少比当前大 1%，至多 10 倍
        bounds = (cur.t + 0.01 * (cur.t - prev.t), cur.t * 10)
        t_next = cubic_interpolate(prev.t, prev.f, prev.gtd, cur.t, cur.f, cur.gtd, bounds)
        prev, cur = cur, probe(t_next)
        evals += 1
        ls_iter += 1
    if ls_iter == max_ls:  # 次数用完也没找到区间
        bracket = [_Probe(0, f, start.g, None), cur]

    # ---- 阶段 2：zoom，在区间内收缩
    def ends():
        return (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)

    low, high = ends()
    insufficient_progress = False
    while not done and ls_iter < max_ls:
        if abs(bracket[1].t - bracket[0].t) * d_norm < tolerance_change:
            break
        a, b = bracket
        t = cubic_interpolate(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        t_max, t_min = max(a.t, b.t), min(a.t, b.t)
        margin = 0.1 * (t_max - t_min)
        if min(t_max - t, t - t_min) < margin:
            # 插值点贴着端点（或跑出区间）：上次也这样、或已出界，就挪到离端点 10% 处
            if insufficient_progress or t >= t_max or t <= t_min:
                t = t_max - margin if abs(t - t_max) < abs(t - t_min) else t_min + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False

        new = probe(t)
        evals += 1
        ls_iter += 1
        if sufficient_decrease_fails(new) or new.f >= bracket[low].f:
            bracket[high] = new  # 新点不够好：收缩高端
            low, high = ends()
        else:
            if curvature_ok(new):
                done = True
            elif new.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]  # 保证极小点仍在区间内
            bracket[low] = new

    best = bracket[low]
    return best.f, best.g, best.t, evals
