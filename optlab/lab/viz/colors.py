"""全书统一的优化器配色：同一个优化器在每张图里都是同一种颜色。"""

from __future__ import annotations

from ..trajectory import PRESETS

# 预设之外的名字按出现顺序取这些颜色
_FALLBACK = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d")

PRESET_COLORS: dict[str, str] = {name: p.color for name, p in PRESETS.items()}
# 不在二维地形预设里、但在真实训练比较里出场的优化器：也给固定颜色
PRESET_COLORS.update({"Adafactor": "#637939", "Muon": "#843c39"})
DIVERGED_COLOR = "#d62728"


def color_for(label: str, index: int = 0) -> str:
    """预设名（如 “Adam”、“动量”）取固定颜色；否则按 ``index`` 轮换备用颜色。"""
    if label in PRESET_COLORS:
        return PRESET_COLORS[label]
    base = label.split(" lr=")[0]
    return PRESET_COLORS.get(base, _FALLBACK[index % len(_FALLBACK)])
