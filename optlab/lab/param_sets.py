"""基准与教材共用的两组参数形状：ResNet-18 的 62 个参数张量，以及 400 个小张量。"""

from __future__ import annotations

# (out, in, kh, kw) 卷积核、BN 的 weight/bias、全连接层：ResNet-18 的全部 62 个参数
_BASIC = [(64, 64, 3, 3), (64,), (64,), (64, 64, 3, 3), (64,), (64,)]


def _stage(width: int, previous: int) -> list[tuple[int, ...]]:
    first = [(width, previous, 3, 3), (width,), (width,), (width, width, 3, 3), (width,), (width,)]
    shortcut = [(width, previous, 1, 1), (width,), (width,)]
    second = [(width, width, 3, 3), (width,), (width,), (width, width, 3, 3), (width,), (width,)]
    return first + shortcut + second


RESNET18_SHAPES: list[tuple[int, ...]] = (
    [(64, 3, 7, 7), (64,), (64,)]
    + _BASIC
    + _BASIC
    + _stage(128, 64)
    + _stage(256, 128)
    + _stage(512, 256)
    + [(1000, 512), (1000,)]
)
SMALL_SHAPES: list[tuple[int, ...]] = [(64 + (i * 37) % 961,) for i in range(400)]
PARAM_SETS = {"resnet18": RESNET18_SHAPES, "small400": SMALL_SHAPES}
