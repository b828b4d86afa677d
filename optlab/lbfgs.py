r"""L-BFGS（Liu & Nocedal, 1989）：用最近几步的 (s, y) 对近似逆 Hessian 的拟牛顿法。

算法框与说明见类的文档字符串（``help(optlab.<类名>)``）。
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ._checks import check_lr
from .optimizer import Optimizer
from .strong_wolfe import strong_wolfe

__all__ = ["LBFGS"]

_CURVATURE_FLOOR = 1e-10  # yᵀs 不大于它的 (s, y) 对不记入历史


def two_loop_direction(flat_grad, old_dirs, old_stps, ro, H_diag, al):
    """两圈递推：不显式构造矩阵，用历史 (s, y) 对算出 ``d = -H g``。``al`` 是复用的缓冲列表。"""
    q = flat_grad.neg()
    for i in reversed(range(len(old_dirs))):
        al[i] = old_stps[i].dot(q) * ro[i]
        q.add_(old_dirs[i], alpha=-al[i])
    r = torch.mul(q, H_diag)
    for i in range(len(old_dirs)):
        be_i = old_dirs[i].dot(r) * ro[i]
        r.add_(old_stps[i], alpha=al[i] - be_i)
    return r


class LBFGS(Optimizer):
    r"""L-BFGS（Liu & Nocedal, 1989）：用最近几步的 (s, y) 对近似逆 Hessian 的拟牛顿法。

    把所有参数拼成一个长向量 θ（复数参数按实部、虚部展开）。一次 ``step(closure)`` 里最多迭代
    ``max_iter`` 次、最多求值 ``max_eval`` 次：

    .. math::
        \begin{aligned}
        & s_k = \theta_{k+1} - \theta_k = t_k d_k, \qquad y_k = g_{k+1} - g_k,
          \qquad \rho_k = 1 / (y_k^\top s_k) \\
        & \text{只在 } y_k^\top s_k > 10^{-10} \text{ 时记入历史（保证近似矩阵正定），最多保留
          history\_size 对} \\
        & H_0 = \frac{y^\top s}{y^\top y} I \qquad(\text{最近一对给出的尺度}) \\
        & \text{两圈递推求 } d = -H g: \\
        & \quad q \leftarrow -g;\ \text{从新到旧：}\ \alpha_i = \rho_i s_i^\top q,\
          q \leftarrow q - \alpha_i y_i \\
        & \quad r \leftarrow H_0 q;\ \text{从旧到新：}\ \beta_i = \rho_i y_i^\top r,\
          r \leftarrow r + (\alpha_i - \beta_i) s_i;\quad d = r \\
        & \theta \leftarrow \theta + t\, d, \qquad t = \begin{cases}
            \min(1, 1/\lVert g\rVert_1)\,\gamma & \text{第一次迭代（方向就是 } -g\text{）} \\
            \gamma & \text{之后；或由强 Wolfe 线搜索决定} \end{cases}
        \end{aligned}

    停止条件：:math:`\max|g| \le` ``tolerance_grad``；:math:`g^\top d > -` ``tolerance_change``
    （不是下降方向）；步长或损失的变化小于 ``tolerance_change``；次数用完。

    内存：除参数本身外，历史里存 2·history_size 个与全部参数等长的平坦向量（``old_dirs`` 即各 y、
    ``old_stps`` 即各 s），再加方向 d、上一步梯度等几个同长向量——history_size 较大时，
    这是参数量的 2·history_size 倍左右，远比一阶方法吃内存。

    与 torch 一致：只支持一个参数组；``closure`` 必须给出；稀疏梯度先转成稠密；
    没有梯度的参数当作梯度为 0；状态都记在第一个参数名下。
    """

    def __init__(
        self,
        params,
        lr=1,
        max_iter=20,
        max_eval=None,
        tolerance_grad=1e-7,
        tolerance_change=1e-9,
        history_size=100,
        line_search_fn=None,
    ):
        check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        self._numel_cache: int | None = None

    # ------------------------------------------------------------------ 平坦向量
    def _real_views(self) -> list[torch.Tensor]:
        return [torch.view_as_real(p) if torch.is_complex(p) else p for p in self._params]

    def _numel(self) -> int:
        if self._numel_cache is None:
            self._numel_cache = sum(p.numel() for p in self._real_views())
        return self._numel_cache

    def _gather_flat_grad(self) -> torch.Tensor:
        """所有梯度拼成一个向量：没有梯度记 0，稀疏梯度转稠密，复数按实部虚部展开。"""
        pieces = []
        for p in self._params:
            if p.grad is None:
                piece = p.new_zeros(p.numel())
            elif p.grad.is_sparse:
                piece = p.grad.to_dense().view(-1)
            else:
                piece = p.grad.view(-1)
            if torch.is_complex(piece):
                piece = torch.view_as_real(piece).view(-1)
            pieces.append(piece)
        return torch.cat(pieces, 0)

    def _add_grad(self, step_size, direction: torch.Tensor) -> None:
        """θ ← θ + step_size · direction（按参数切片写回）。"""
        offset = 0
        for p in self._real_views():
            n = p.numel()
            p.add_(direction[offset : offset + n].view_as(p), alpha=step_size)
            offset += n
        assert offset == self._numel()

    def _clone_param(self) -> list[torch.Tensor]:
        return [p.clone(memory_format=torch.contiguous_format) for p in self._params]

    def _set_param(self, values: list[torch.Tensor]) -> None:
        for p, v in zip(self._params, values):
            p.copy_(v)

    def _directional_evaluate(self, closure, x, t, d) -> tuple[float, torch.Tensor]:
        """在 x + t·d 处求损失与梯度，然后把参数恢复成 x。"""
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ------------------------------------------------------------------ 一步
    @torch.no_grad()
    def step(self, closure: Callable[[], Any]) -> Any:
        """迭代至多 ``max_iter`` 次；闭包必须清梯度、算损失、反向传播并返回损失。"""
        if len(self.param_groups) != 1:  # 构造后又 add_param_group 的情形
            raise AssertionError(
                f"Expected exactly one param_group, but got {len(self.param_groups)}"
            )
        closure = torch.enable_grad()(closure)
        group = self.param_groups[0]
        lr = group["lr"]
        if isinstance(lr, torch.Tensor) and lr.dim() > 0:  # 形如 [1] 的张量 lr 当作标量
            lr = lr.reshape(())
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        # 状态跨 step 延续：历史对、上一步的方向与步长
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if flat_grad.abs().max() <= tolerance_grad:  # 已经是驻点
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- 方向
            if state["n_iter"] == 1:
                d = flat_grad.neg()
                old_dirs, old_stps, ro, H_diag = [], [], [], 1
            else:
                y = flat_grad.sub(prev_flat_grad)
                s = d.mul(t)
                ys = y.dot(s)
                if ys > _CURVATURE_FLOOR:
                    if len(old_dirs) == history_size:  # 历史满了：丢掉最旧的一对
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)
                if "al" not in state:
                    state["al"] = [None] * history_size
                d = two_loop_direction(flat_grad, old_dirs, old_stps, ro, H_diag, state["al"])

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            # ---- 步长：第一次迭代按梯度的 L1 范数缩小，免得一上来走太远
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / flat_grad.abs().sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # 不再是下降方向
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def evaluate(step, x_init=x_init, d=d):
                    return self._directional_evaluate(closure, x_init, step, d)

                # 线搜索的评估次数也受本步剩余的 max_eval 预算限制
                loss, flat_grad, t, ls_func_evals = strong_wolfe(
                    evaluate, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = flat_grad.abs().max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                # 最后一次迭代不再求值：下一次 step 开头会求
                if n_iter != max_iter:
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = flat_grad.abs().max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- 停止条件
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if d.mul(t).abs().max() <= tolerance_change:  # 步子太小
                break
            if abs(loss - prev_loss) < tolerance_change:  # 损失几乎不变
                break

        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=H_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
        )
        return orig_loss
