"""探索器的网页版：执行笔记本时用 optlab 预先算好数据，配一个自写的小 JS 查看器（canvas）。

网页书里没有内核，ipywidgets 控件不会运行。这里把控件可能要画的东西预先算好——
优化器 × 学习率倍数 × 动量/β × 几个起点 × 地形的轨迹（含每步的损失），调度器 × 两个主要参数 ×
步数的学习率（和动量）曲线——量化、压缩后和查看器脚本一起内联进一段 HTML。查看器不依赖任何库，
不访问网络（解压用浏览器自带的 ``DecompressionStream``）。

输出是确定的：同样的参数得到逐字节相同的 HTML（元素 id 由数据的哈希得出），严格的 nbval
比较与干净的网页书构建都不受影响。
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import zlib
from importlib import resources

import numpy as np
import torch

from ..landscapes import get_landscape
from ..trajectory import (
    _FIXED_LR,
    ELEMENTWISE,
    PRESETS,
    _finish,
    _run_batched,
    resolve_optimizer,
    run_batch,
)
from .colors import DIVERGED_COLOR, color_for

# ---- 网页版的取值网格（控件的滑块在这些值之间跳动） ----

# 学习率倍数 0.01 … 100（与控件的范围相同），每个数量级取 1 与 3 两档
LR_SCALES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
MOMENTA = (0.0, 0.5, 0.9, 0.99)
BETA1 = (0.0, 0.9, 0.99)
BETA2 = (0.99, 0.999, 0.9999)
DEFAULT_MOMENTUM, DEFAULT_BETA1, DEFAULT_BETA2 = 0.9, 0.9, 0.999
ADAM_FAMILY = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam"})
# 起点：地形的默认起点，再加窗口里两个固定比例处的点
START_FRACTIONS = ((0.8, 0.25), (0.25, 0.8))
GRID_N = 72
CONTOUR_LEVELS = 20
# 轨迹坐标按窗口宽度的 1/1024 量化（画布约 500 像素宽）；损失取 log10 后按 1/50 量化
COORD_UNITS = 1024
LOSS_UNITS = 50
LOSS_FLOOR = 1e-30


def _variants(preset) -> list[dict]:
    """一个预设在网页版里要算的选项组合：动量类按动量取值，Adam 一族按 (β₁, β₂) 的“十字”网格。"""
    if "momentum" in preset.options:
        return [{"momentum": m} for m in MOMENTA]
    if preset.optimizer in ADAM_FAMILY:
        cross = [(b1, DEFAULT_BETA2) for b1 in BETA1] + [(DEFAULT_BETA1, b2) for b2 in BETA2 if b2 != DEFAULT_BETA2]
        return [{"betas": betas} for betas in cross]
    return [{}]


def _variant_keys(preset) -> list[list[float]]:
    """与 ``_variants`` 同序的 [动量, β₁, β₂]（不适用的位置为 None）。"""
    keys = []
    for v in _variants(preset):
        if "momentum" in v:
            keys.append([v["momentum"], None, None])
        elif "betas" in v:
            keys.append([None, v["betas"][0], v["betas"][1]])
        else:
            keys.append([None, None, None])
    return keys


def start_points(land) -> list[tuple[float, float]]:
    (x0, x1), (y0, y1) = land.xlim, land.ylim
    pts = [tuple(float(v) for v in land.start)]
    for fx, fy in START_FRACTIONS:
        pts.append((round(x0 + fx * (x1 - x0), 3), round(y0 + fy * (y1 - y0), 3)))
    return pts


def _pack(arrays: list[np.ndarray]) -> str:
    """int16 的增量编码，拼接后 zlib 压缩，再 base64。"""
    chunks = []
    for arr in arrays:
        q = np.asarray(arr, dtype=np.int64)
        delta = np.diff(q, prepend=0)
        if delta.size and (delta.min() < -32768 or delta.max() > 32767):
            raise ValueError("增量超出 int16")
        chunks.append(delta.astype("<i2").tobytes())
    return base64.b64encode(zlib.compress(b"".join(chunks), 9)).decode("ascii")


def _quantize_path(land, path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    (x0, x1), (y0, y1) = land.xlim, land.ylim
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    # 窗口外 7 倍以内的点照常保存，更远的压到边界上（反正画在窗口外面；增量不超出 int16）
    qx = np.clip(np.rint((path[:, 0] - cx) / w * COORD_UNITS), -7 * COORD_UNITS, 7 * COORD_UNITS)
    qy = np.clip(np.rint((path[:, 1] - cy) / h * COORD_UNITS), -7 * COORD_UNITS, 7 * COORD_UNITS)
    return qx, qy


def _quantize_loss(losses: np.ndarray) -> np.ndarray:
    logs = np.log10(np.maximum(np.nan_to_num(losses, nan=LOSS_FLOOR, posinf=1e30), LOSS_FLOOR))
    return np.clip(np.rint(logs * LOSS_UNITS), -30 * LOSS_UNITS, 30 * LOSS_UNITS)


def _background(land) -> dict:
    """等高线背景：网格上每点位于第几条等高线之间（小数，×10 存成 uint8）与各色带的颜色。"""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    Z = land.grid(GRID_N)[2]
    levels = np.asarray(land.contour_levels(Z, CONTOUR_LEVELS))
    z = Z.numpy()
    position = np.interp(z, levels, np.arange(len(levels)), left=-0.95, right=len(levels) - 0.05) + 1
    # 对数等高线在两条线之间按对数插值更贴近 matplotlib 的填色
    if land.levels == "log":
        logz, loglv = np.log(np.maximum(z, levels[0] * 1e-3)), np.log(levels)
        position = np.interp(logz, loglv, np.arange(len(levels)), left=-0.95, right=len(levels) - 0.05) + 1
    q = np.clip(np.rint(position * 10), 0, 255).astype(np.uint8)
    cmap = colormaps["Blues_r"]
    bands = len(levels) + 1
    colors = []
    for i in range(bands):
        r, g, b, _ = cmap(i / (bands - 1))
        # 与控件里 contourf(alpha=0.55) 叠在白底上的颜色相同
        colors.append(to_hex((1 - 0.55 + 0.55 * r, 1 - 0.55 + 0.55 * g, 1 - 0.55 + 0.55 * b)))
    return {"n": GRID_N, "data": base64.b64encode(zlib.compress(q.tobytes(), 9)).decode("ascii"), "colors": colors}


def _plain_formula(land) -> str:
    return land.formula


def optimizer_explorer_data(landscape="beale", names=None, *, steps: int = 200, landscapes=None,
                            resolver=None) -> dict:  # fmt: skip
    """网页版优化器探索器的全部数据（可 JSON 序列化）。

    ``landscapes``：下拉框里的地形（默认：初始地形与另一个对照地形）；``steps``：最多步数。
    """
    from .widgets import DEFAULT_NAMES

    names = list(names if names is not None else DEFAULT_NAMES)
    first = get_landscape(landscape).name
    if landscapes is None:
        other = "rosenbrock" if first != "rosenbrock" else "quadratic"
        landscapes = (first, other)
    lands = [get_landscape(n) for n in dict.fromkeys([first, *[get_landscape(n).name for n in landscapes]])]
    resolve = resolver or resolve_optimizer
    scales = list(LR_SCALES)
    series: list[np.ndarray] = []
    table: list[list[int]] = []  # 每条轨迹：[点数, 发散步数或 -1]
    land_entries = []
    for land in lands:
        starts = start_points(land)
        pts = torch.tensor(starts, dtype=torch.float64)
        # 每个预设的 (变体, 学习率倍数) → 轨迹；同一个逐元素优化器类的全部组合放进一个优化器的各参数组
        results: dict[tuple[str, int, int], list] = {}
        by_class: dict[type, list] = {}
        for n in names:
            preset = PRESETS[n]
            cls = resolve(preset.optimizer)
            for vi, variant in enumerate(_variants(preset)):
                fixed = _FIXED_LR.get(preset.optimizer)
                for si, scale in enumerate(scales):
                    opts = {**preset.options, **variant, "lr": fixed or preset.lr_for(land) * scale}
                    job = (n, vi, si, opts)
                    if getattr(cls, "__name__", "") in ELEMENTWISE:
                        by_class.setdefault(cls, []).append(job)
                    elif fixed and si > 0:
                        results[(n, vi, si)] = results[(n, vi, 0)]  # 学习率固定：各倍数共用
                    else:
                        lr = opts.pop("lr")
                        results[(n, vi, si)] = run_batch(land, cls, starts, lrs=[lr], steps=steps, **opts)
        for cls, jobs in by_class.items():
            paths = _run_batched(land, cls, pts, [job[3] for job in jobs], steps, {})
            for (n, vi, si, opts), path in zip(jobs, paths):
                results[(n, vi, si)] = [
                    _finish(land, cls, opts, n, starts[k], path[:, k], steps, PRESETS[n].color)
                    for k in range(len(starts))
                ]
        offsets = {}
        for n in names:
            offsets[n] = len(table)
            for vi in range(len(_variants(PRESETS[n]))):
                for si in range(len(scales)):
                    for traj in results[(n, vi, si)]:
                        xy = traj.path.numpy()
                        qx, qy = _quantize_path(land, xy)
                        series += [qx, qy, _quantize_loss(traj.losses.numpy())]
                        table.append([len(xy), -1 if traj.diverged_at is None else traj.diverged_at])
        land_entries.append({
            "name": land.name, "title": land.title, "formula": _plain_formula(land),
            "xlim": list(land.xlim), "ylim": list(land.ylim),
            "minima": [list(p) for p in land.minima], "saddles": [list(p) for p in land.saddles],
            "starts": [list(p) for p in starts], "offsets": offsets, "background": _background(land),
        })  # fmt: skip
    return {
        "kind": "optimizer",
        "steps": steps,
        "lrScales": list(LR_SCALES),
        "momenta": list(MOMENTA),
        "beta1": list(BETA1),
        "beta2": list(BETA2),
        "defaults": {
            "momentum": DEFAULT_MOMENTUM,
            "beta1": DEFAULT_BETA1,
            "beta2": DEFAULT_BETA2,
            "landscape": first,
            "steps": steps,
        },
        "presets": [
            {"label": n, "color": color_for(n), "variants": _variant_keys(PRESETS[n]), "selected": True}
            for n in names
        ],
        "divergedColor": DIVERGED_COLOR,
        "landscapes": land_entries,
        "coordUnits": COORD_UNITS,
        "lossUnits": LOSS_UNITS,
        "count": len(table),
        # 先是每条轨迹的点数、发散步数（-1 表示没有发散），再依次是每条轨迹的 x、y、log10 损失
        "series": _pack([np.array([row[0] for row in table]), np.array([row[1] for row in table]), *series]),
    }


# ---- 调度器 ----

SCHEDULER_GRID = 7  # 每个主要参数取几个值
ONECYCLE_STEPS = tuple(range(50, 501, 50))  # OneCycleLR 的曲线随总步数变化，按这些步数各算一遍
MAX_STEPS = 500
LR_UNITS = 30000


def _param_values(spec) -> list[float]:
    if spec is None:
        return [0.0]
    _, lo, hi, default, is_int = spec
    values = np.linspace(lo, hi, SCHEDULER_GRID).tolist()
    if is_int:
        values = sorted({round(v) for v in values})
    values = sorted(set(values) | {default})
    return [float(v) for v in values]


def scheduler_explorer_data(scheduler="OneCycleLR", *, steps: int = 200, lr: float = 0.1, module=None) -> dict:
    """网页版调度器探索器的数据：每个调度器在两个主要参数的网格上的学习率（和动量）曲线。

    所有调度器给出的学习率都与初始学习率成正比，所以只按 ``lr`` 算一遍，查看器按滑块的学习率等比缩放。
    """
    from .curves import schedule_values
    from .widgets import SCHEDULERS, scheduler_module

    module = module or scheduler_module()
    entries = []
    series: list[np.ndarray] = []
    table: list[list[int]] = []  # 每条曲线：[点数, 是否有动量]
    for name, (spec_a, spec_b, build) in SCHEDULERS.items():
        a_values, b_values = _param_values(spec_a), _param_values(spec_b)
        step_values = list(ONECYCLE_STEPS) if name == "OneCycleLR" else [MAX_STEPS]
        offset = len(table)
        for n in step_values:
            for a in a_values:
                for b in b_values:
                    factory = lambda opt, a=a, b=b, n=n, build=build: build(module, opt, a, b, n, lr)
                    values = schedule_values(factory, n, lr=lr)
                    lrs = np.asarray(values["lr"]) / lr
                    series.append(np.rint(lrs * LR_UNITS))
                    moms = values.get("momentum")
                    if moms is not None:
                        series.append(np.rint(np.asarray(moms) * LR_UNITS))
                    table.append([len(lrs), int(moms is not None)])
        entries.append({
            "name": name, "offset": offset, "steps": step_values,
            "params": [None if spec is None else {"label": spec[0], "values": vals, "default": float(spec[3]),
                                                  "integer": bool(spec[4])}
                       for spec, vals in ((spec_a, a_values), (spec_b, b_values))],
        })  # fmt: skip
    return {
        "kind": "scheduler",
        "defaults": {"scheduler": scheduler, "steps": steps, "lr": lr},
        "baseLr": lr,
        "maxSteps": MAX_STEPS,
        "lrUnits": LR_UNITS,
        "schedulers": entries,
        "count": len(table),
        # 先是每条曲线的点数、有无动量曲线，再依次是每条曲线的学习率比例（和动量），都乘以 lrUnits
        "series": _pack([np.array([row[0] for row in table]), np.array([row[1] for row in table]), *series]),
    }


# ---- HTML ----


def _viewer_js() -> str:
    return resources.files(__package__).joinpath("web_explorer.js").read_text(encoding="utf-8")


def explorer_html(data: dict) -> str:
    """把数据与查看器脚本内联成一段 HTML；id 由内容哈希得出（确定的输出）。"""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha1(payload.encode("utf-8")).hexdigest()[:12]
    element_id = f"optlab-explorer-{digest}"
    safe_payload = payload.replace("</", "<\\/")
    return (
        f'<div class="optlab-explorer" id="{element_id}" data-kind="{html.escape(data["kind"])}">'
        '<noscript>这个交互图需要 JavaScript。</noscript></div>\n'
        f'<script type="application/json" id="{element_id}-data">{safe_payload}</script>\n'
        f"<script>{_viewer_js()}\nwindow.optlabExplorer(document.getElementById({json.dumps(element_id)}));</script>"
    )


def optimizer_explorer_html(landscape="beale", names=None, *, steps: int = 200, landscapes=None,
                            resolver=None) -> str:  # fmt: skip
    return explorer_html(optimizer_explorer_data(landscape, names, steps=steps, landscapes=landscapes,
                                                 resolver=resolver))  # fmt: skip


def scheduler_explorer_html(scheduler="OneCycleLR", *, steps: int = 200, lr: float = 0.1, module=None) -> str:
    return explorer_html(scheduler_explorer_data(scheduler, steps=steps, lr=lr, module=module))


__all__ = [
    "explorer_html",
    "optimizer_explorer_data",
    "optimizer_explorer_html",
    "scheduler_explorer_data",
    "scheduler_explorer_html",
    "start_points",
]

