"""optlab 与 torch.optim 并排运行的对照工具：测试和笔记本都用它。

同一组初始参数、同一个损失函数，两边各走 N 步，每一步比较参数与状态，报告最大差异。
本模块可以 import torch.optim（它只用于对照），optlab 的核心模块不会 import 它。
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["ParityReport", "compare_with_torch", "default_loss", "make_params", "max_abs_diff"]

DEFAULT_SHAPES: tuple[tuple[int, ...], ...] = ((5, 4), (7,), (2, 3, 2))


def default_loss(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """一个光滑、非凸、各坐标尺度不同的损失，让每个算法的每个分支都真正起作用。"""
    total = 0.0
    for i, p in enumerate(params):
        x = torch.view_as_real(p) if torch.is_complex(p) else p
        scale = torch.linspace(0.5, 2.0 + i, x.numel(), dtype=x.dtype, device=x.device).view_as(x)
        total = total + (scale * (x - 0.3) ** 2).sum() + 0.1 * torch.sin(3 * x).sum()
    return total


def make_params(
    shapes: Sequence[Sequence[int]] = DEFAULT_SHAPES,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    real_dtype = dtype.to_real()  # 复数参数由一对实数随机数拼成
    out = []
    for shape in shapes:
        if dtype.is_complex:
            x = torch.view_as_complex(torch.randn(*shape, 2, generator=gen, dtype=real_dtype))
        else:
            x = torch.randn(*shape, generator=gen, dtype=real_dtype)
        out.append(x.to(device).requires_grad_(True))
    return out


def _diff(a: Any, b: Any) -> float:
    """两份状态（张量、数、列表、字典）之间的最大绝对差；结构不同记为 inf。"""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.is_sparse != b.is_sparse:
            return math.inf
        if a.is_sparse:
            a, b = a.to_dense(), b.to_dense()
        if a.numel() == 0:
            return 0.0
        return (
            (
                a.detach().to(torch.complex128 if a.is_complex() else torch.float64)
                - b.detach().to(torch.complex128 if b.is_complex() else torch.float64)
            )
            .abs()
            .max()
            .item()
        )
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return math.inf
        return max((_diff(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return math.inf
        return max((_diff(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) if not (a is None or b is None) else 0.0
    return 0.0 if a == b else math.inf


def max_abs_diff(a: Any, b: Any) -> float:
    return _diff(a, b)


@dataclass
class ParityReport:
    """对照结果。``passed`` 表示每一步的参数和状态都满足 ``torch.testing.assert_close`` 的默认容差。"""

    name: str
    options: dict[str, Any]
    device: str
    dtype: torch.dtype
    steps: int
    max_param_diff: float = 0.0
    max_state_diff: float = 0.0
    first_failure: str | None = None
    history: list[float] = field(default_factory=list)
    # 每个参数组：(参数个数, 该组自己的选项)；None 表示没有分组（只有一个参数组）
    groups: list[tuple[int, dict[str, Any]]] | None = None

    @property
    def passed(self) -> bool:
        return self.first_failure is None

    def summary(self) -> str:
        verdict = "通过 ✓" if self.passed else f"未通过 ✗（{self.first_failure}）"
        grouping = ""
        if self.groups:
            parts = "；".join(
                f"组 {i}（{n} 个参数）{extra or '{}'}" for i, (n, extra) in enumerate(self.groups)
            )
            grouping = f"（{len(self.groups)} 个参数组：{parts}）"
        return (
            f"{self.name}{self.options}{grouping} 在 {self.device}/{str(self.dtype).replace('torch.', '')} 上走 {self.steps} 步："
            f"参数最大差 {self.max_param_diff:.2e}，状态最大差 {self.max_state_diff:.2e} —— {verdict}"
        )

    def assert_ok(self) -> None:
        assert self.passed, self.summary()


def _close(a: Any, b: Any) -> str | None:
    """按 assert_close 默认容差比较，返回错误信息或 None。"""
    try:
        _assert_state_close(a, b)
    except AssertionError as err:
        return str(err).splitlines()[0]
    return None


# torch.testing.assert_close 的默认容差 (rtol, atol)；快速路径用它，失败时再交给 assert_close 出报告
_DEFAULT_TOLERANCES = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
    torch.complex64: (1.3e-6, 1e-5),
    torch.complex128: (1e-7, 1e-7),
}


def _quickly_close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """与 assert_close 默认判据相同的快速检查（只处理常见的稠密浮点情形）。"""
    tol = _DEFAULT_TOLERANCES.get(a.dtype)
    if (
        tol is None
        or a.dtype != b.dtype
        or a.shape != b.shape
        or a.device != b.device
        or a.layout != torch.strided
        or b.layout != torch.strided
    ):
        return False
    return bool(torch.isclose(a, b, rtol=tol[0], atol=tol[1]).all())


def _assert_state_close(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        a, b = a.detach(), b.detach()
        if _quickly_close(a, b):
            return
        if a.is_sparse:
            a, b = a.to_dense(), b.to_dense()
        torch.testing.assert_close(a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"状态键不同：{sorted(map(str, a))} vs {sorted(map(str, b))}"
        for k in a:
            _assert_state_close(a[k], b[k])
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"长度不同：{len(a)} vs {len(b)}"
        for x, y in zip(a, b):
            _assert_state_close(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        torch.testing.assert_close(float(a), float(b))
    else:
        assert a == b, f"{a!r} != {b!r}"


def compare_with_torch(
    optimizer: str | type,
    options: dict[str, Any] | None = None,
    *,
    torch_optimizer: type | None = None,
    groups: Sequence[dict[str, Any]] | None = None,
    steps: int = 20,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    shapes: Sequence[Sequence[int]] = DEFAULT_SHAPES,
    params: Callable[[], list[torch.Tensor]] | None = None,
    loss_fn: Callable[[Sequence[torch.Tensor]], torch.Tensor] = default_loss,
    use_closure: bool = False,
    skip_grad_steps: Sequence[int] = (),
    check_state: bool = True,
    seed: int = 0,
) -> ParityReport:
    """让 optlab 的优化器和 torch.optim 的同名优化器在相同参数、相同梯度上各走 ``steps`` 步。

    - ``groups``：把参数按顺序分成若干参数组，每组附带自己的选项（长度须与参数个数相容）；
    - ``skip_grad_steps``：这些步里第一个参数没有梯度（``grad=None``），检验“无梯度就不动”；
    - ``use_closure``：用闭包调用 ``step``（LBFGS 必须这样）；
    - ``params``：自定义建参函数（例如稀疏 embedding）；``loss_fn``：自定义损失。
    """
    import torch.optim as torch_optim

    import optlab

    options = dict(options or {})
    name = optimizer if isinstance(optimizer, str) else optimizer.__name__
    ours_cls = getattr(optlab, optimizer) if isinstance(optimizer, str) else optimizer
    theirs_cls = torch_optimizer or getattr(torch_optim, name)

    def build() -> list[torch.Tensor]:
        if params is not None:
            return params()
        return make_params(shapes, dtype=dtype, device=device, seed=seed)

    def grouped(ps: list[torch.Tensor]) -> Any:
        if not groups:
            return ps
        out, start = [], 0
        for i, extra in enumerate(groups):
            end = len(ps) if i == len(groups) - 1 else start + max(1, len(ps) // len(groups))
            out.append({"params": ps[start:end], **extra})
            start = end
        return out

    ours_params, theirs_params = build(), build()
    ours = ours_cls(grouped(ours_params), **options)
    theirs = theirs_cls(grouped(theirs_params), **options)
    report = ParityReport(name, options, str(torch.device(device)), dtype, steps)
    if groups:
        report.groups = [
            (len(g["params"]), {k: v for k, v in g.items() if k != "params"}) for g in grouped(build())
        ]

    def one_step(opt: Any, ps: list[torch.Tensor], step_index: int) -> None:
        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = loss_fn(ps)
            loss.backward()
            if step_index in skip_grad_steps:
                ps[0].grad = None
            return loss

        if use_closure:
            opt.step(closure)
        else:
            closure()
            opt.step()

    for i in range(steps):
        one_step(ours, ours_params, i)
        one_step(theirs, theirs_params, i)
        pdiff = max(_diff(a, b) for a, b in zip(ours_params, theirs_params))
        report.max_param_diff = max(report.max_param_diff, pdiff)
        report.history.append(pdiff)
        problem = _close(list(ours_params), list(theirs_params))
        if problem is None and check_state:
            s_ours, s_theirs = ours.state_dict()["state"], theirs.state_dict()["state"]
            report.max_state_diff = max(report.max_state_diff, _diff(s_ours, s_theirs))
            problem = _close(s_ours, s_theirs)
        if problem is not None and report.first_failure is None:
            report.first_failure = f"第 {i + 1} 步：{problem}"
    return report
