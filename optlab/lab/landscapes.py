"""二维测试函数（“地形”）：用 torch 写成，可一次算整张网格或一批点。

每个地形带有已知的极小值/鞍点、画图窗口、默认起点、中文名和等高线方案。
梯度用解析式给出（比 autograd 快得多，交互控件要在 150 ms 内重算 8 条轨迹），
测试里会与 autograd 逐点对照。
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["LANDSCAPES", "Landscape", "get_landscape", "landscape_names"]

Point = tuple[float, float]

# 元素个数不超过它时梯度用 Python 浮点数计算（双精度，与 float64 张量结果一致到舍入误差）
_FLOAT_PATH_MAX = 16


@dataclass(frozen=True)
class Landscape:
    """一个二维地形 f(x, y)。

    - ``landscape(xy)``：``xy`` 形如 ``[..., 2]``，返回 ``[...]``；
    - ``landscape.f(x, y)``：``x``、``y`` 同形（如 ``[H, W]`` 网格）；
    - ``landscape.grad(xy)``：解析梯度，形如 ``[..., 2]``。
    """

    name: str
    title: str
    func: Callable[[Tensor, Tensor], Tensor] = field(repr=False)
    partials: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] = field(repr=False)
    xlim: Point
    ylim: Point
    start: Point
    minima: tuple[Point, ...] = ()
    saddles: tuple[Point, ...] = ()
    levels: str = "linear"  # "log"：值域跨多个数量级时用对数间隔的等高线
    # 对数等高线的最低一条；None 时取“最小值 + 值域 × 1e-4”。谷底很平的地形（Beale）要固定一个小值，
    # 否则最低一条等高线太高，轨迹很快就落进一片同色的区域，看不出山谷
    log_floor: float | None = None
    formula: str = ""
    # 各类优化器的“合适”学习率：梯度型（SGD 类）和步长型（Adam 类）尺度不同
    sgd_lr: float = 0.01
    step_size: float = 0.05

    def f(self, x: Tensor, y: Tensor) -> Tensor:
        return self.func(x, y)

    def __call__(self, xy: Tensor) -> Tensor:
        return self.func(xy[..., 0], xy[..., 1])

    def grad(self, xy: Tensor) -> Tensor:
        if xy.dtype == torch.float64 and xy.numel() <= _FLOAT_PATH_MAX:
            # 少量点：转成 Python 浮点数计算，省掉几十次小张量运算的固定开销
            rows = xy.reshape(-1, 2).tolist()
            try:
                out = [self.partials(x, y) for x, y in rows]
                return torch.tensor(out, dtype=xy.dtype).reshape(xy.shape)
            except (OverflowError, ValueError):
                pass  # 发散时浮点数会溢出报错，交给张量路径得到 inf/nan

        gx, gy = self.partials(xy[..., 0], xy[..., 1])
        return torch.stack((gx, gy), dim=-1)

    def contains(self, point: Point) -> bool:
        x, y = float(point[0]), float(point[1])
        return self.xlim[0] <= x <= self.xlim[1] and self.ylim[0] <= y <= self.ylim[1]

    def grid(self, n: int = 120, dtype: torch.dtype = torch.float64):
        """返回画等高线用的网格 ``(X, Y, Z)``，形状都是 ``[n, n]``。"""
        xs = torch.linspace(self.xlim[0], self.xlim[1], n, dtype=dtype)
        ys = torch.linspace(self.ylim[0], self.ylim[1], n, dtype=dtype)
        Y, X = torch.meshgrid(ys, xs, indexing="ij")
        return X, Y, self.func(X, Y)

    def contour_levels(self, Z: Tensor, n: int = 25) -> list[float]:
        """按本地形推荐的方案（线性或对数）给出等高线取值。"""
        lo, hi = float(Z.min()), float(Z.max())
        if self.levels == "log":
            # 对数间隔：最低点附近的细节和高处的陡坡都能看见
            floor = self.log_floor if self.log_floor is not None else max(lo, 0.0) + max(hi - lo, 1.0) * 1e-4
            return torch.logspace(math.log10(floor), math.log10(hi), n).tolist()
        return torch.linspace(lo, hi, n + 2)[1:-1].tolist()


# ---- 各个函数及其偏导 ----


def _quadratic(x, y):
    return 0.1 * x**2 + 2 * y**2


def _quadratic_d(x, y):
    return 0.2 * x, 4 * y


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_d(x, y):
    r = y - x**2
    return -2 * (1 - x) - 400 * x * r, 200 * r


_BEALE_C = (1.5, 2.25, 2.625)


def _beale(x, y):
    return sum((c - x + x * y**k) ** 2 for k, c in enumerate(_BEALE_C, start=1))


def _beale_d(x, y):
    y2 = y * y
    y3 = y2 * y
    t1 = 1.5 - x + x * y
    t2 = 2.25 - x + x * y2
    t3 = 2.625 - x + x * y3
    return (
        2 * (t1 * (y - 1) + t2 * (y2 - 1) + t3 * (y3 - 1)),
        2 * x * (t1 + 2 * t2 * y + 3 * t3 * y2),
    )


def _himmelblau(x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _himmelblau_d(x, y):
    a = x**2 + y - 11
    b = x + y**2 - 7
    return 4 * x * a + 2 * b, 2 * a + 4 * y * b


_TWO_PI = 2 * math.pi


# 偏导函数既接受张量也接受 Python 浮点数：单个点时用浮点数算快得多（见 trajectory）
def _cos(t):
    return math.cos(t) if isinstance(t, float) else torch.cos(t)


def _sin(t):
    return math.sin(t) if isinstance(t, float) else torch.sin(t)


def _rastrigin(x, y):
    return 20 + x**2 - 10 * torch.cos(_TWO_PI * x) + y**2 - 10 * torch.cos(_TWO_PI * y)


def _rastrigin_d(x, y):
    return (
        2 * x + 10 * _TWO_PI * _sin(_TWO_PI * x),
        2 * y + 10 * _TWO_PI * _sin(_TWO_PI * y),
    )


def _saddle(x, y):
    return x**2 - y**2


def _saddle_d(x, y):
    return 2 * x, -2 * y


def _monkey(x, y):
    return x**3 - 3 * x * y**2


def _monkey_d(x, y):
    return 3 * x**2 - 3 * y**2, -6 * x * y


# 把病态二次函数转 30°：狭长山谷不再与坐标轴对齐，逐坐标自适应的方法就不占便宜了
_COS30 = math.cos(math.radians(30))
_SIN30 = math.sin(math.radians(30))


def _valley(x, y):
    u = _COS30 * x + _SIN30 * y
    v = -_SIN30 * x + _COS30 * y
    return 0.05 * u**2 + 5 * v**2


def _valley_d(x, y):
    u = _COS30 * x + _SIN30 * y
    v = -_SIN30 * x + _COS30 * y
    du, dv = 0.1 * u, 10 * v
    return _COS30 * du - _SIN30 * dv, _SIN30 * du + _COS30 * dv


LANDSCAPES: dict[str, Landscape] = {
    land.name: land
    for land in (
        Landscape(
            "quadratic", "病态二次函数", _quadratic, _quadratic_d,
            xlim=(-6.0, 6.0), ylim=(-3.0, 3.0), start=(-5.0, -2.0),
            minima=((0.0, 0.0),), formula=r"$0.1x^2 + 2y^2$",
            sgd_lr=0.4, step_size=0.4,
        ),
        Landscape(
            "rosenbrock", "Rosenbrock 函数", _rosenbrock, _rosenbrock_d,
            xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), start=(-1.5, 2.5),
            minima=((1.0, 1.0),), levels="log",
            formula=r"$(1-x)^2 + 100(y-x^2)^2$",
            sgd_lr=1e-3, step_size=0.05,
        ),
        Landscape(
            "beale", "Beale 函数", _beale, _beale_d,
            # 窗口收在弯曲的山谷周围：从起点 (1, 1.5) 到极小值 (3, 0.5) 的路径占满画面
            xlim=(-0.5, 3.7), ylim=(-1.3, 1.9), start=(1.0, 1.5),
            minima=((3.0, 0.5),), saddles=((0.0, 1.0),), levels="log", log_floor=1e-3,
            formula=r"$\sum_{k=1}^{3}(c_k - x + xy^k)^2$",
            sgd_lr=1e-2, step_size=0.1,
        ),
        Landscape(
            "himmelblau", "Himmelblau 函数", _himmelblau, _himmelblau_d,
            xlim=(-5.0, 5.0), ylim=(-5.0, 5.0), start=(-0.5, -0.5),
            minima=(
                (3.0, 2.0),
                (-2.805118, 3.131312),
                (-3.779310, -3.283186),
                (3.584428, -1.848126),
            ),
            levels="log", formula=r"$(x^2+y-11)^2 + (x+y^2-7)^2$",
            sgd_lr=0.01, step_size=0.1,
        ),
        Landscape(
            "rastrigin", "Rastrigin 函数", _rastrigin, _rastrigin_d,
            xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), start=(2.3, -2.6),
            minima=((0.0, 0.0),),
            formula=r"$20 + \sum (t^2 - 10\cos 2\pi t)$",
            sgd_lr=2e-3, step_size=0.05,
        ),
        Landscape(
            "saddle", "鞍面", _saddle, _saddle_d,
            xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), start=(-1.5, 1e-3),
            saddles=((0.0, 0.0),), formula=r"$x^2 - y^2$",
            sgd_lr=0.01, step_size=0.02,
        ),
        Landscape(
            "monkey_saddle", "猴鞍面", _monkey, _monkey_d,
            xlim=(-1.5, 1.5), ylim=(-1.5, 1.5), start=(1.2, 1e-3),
            saddles=((0.0, 0.0),), formula=r"$x^3 - 3xy^2$",
            sgd_lr=0.05, step_size=0.03,
        ),
        Landscape(
            "valley", "倾斜的狭长山谷", _valley, _valley_d,
            xlim=(-5.0, 5.0), ylim=(-3.0, 3.0), start=(-4.0, -1.0),
            minima=((0.0, 0.0),), formula=r"$0.05u^2 + 5v^2$（坐标轴旋转 30°）",
            sgd_lr=0.15, step_size=0.1,
        ),
    )
}  # fmt: skip


def landscape_names() -> list[str]:
    return list(LANDSCAPES)


def get_landscape(name: str | Landscape) -> Landscape:
    """按名字取地形；已经是 ``Landscape`` 就原样返回。未知名字抛 ``ValueError``。"""
    if isinstance(name, Landscape):
        return name
    try:
        return LANDSCAPES[name]
    except (KeyError, TypeError):
        known = "、".join(LANDSCAPES)
        raise ValueError(f"未知的地形 {name!r}；可选：{known}") from None
