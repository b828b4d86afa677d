"""签名表：从 ``inspect.signature`` 读出参数和默认值，配上中文含义，显示成 Markdown 表格。

默认值直接取自库本身，书里的表格不会与代码脱节；漏写或多写含义都会报错。
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["signature_rows", "signature_table"]


def _shown_default(param: inspect.Parameter) -> str:
    if param.default is inspect.Parameter.empty:
        return "（必填）"
    return f"`{param.default!r}`"


def _shown_name(param: inspect.Parameter) -> str:
    # 仅限关键字参数（``*`` 之后）标出来：按位置传会报 TypeError
    suffix = "（仅关键字）" if param.kind is inspect.Parameter.KEYWORD_ONLY else ""
    return f"`{param.name}`{suffix}"


def signature_rows(obj: Any, meanings: dict[str, str]) -> list[tuple[str, str, str]]:
    """返回 ``(参数, 默认值, 含义)`` 各行；``meanings`` 必须恰好覆盖全部参数（``self`` 除外）。"""
    params = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    names = [p.name for p in params]
    missing = [n for n in names if n not in meanings]
    extra = [n for n in meanings if n not in names]
    if missing or extra:
        raise ValueError(f"含义表与签名不符：缺少 {missing}，多出 {extra}")
    return [(_shown_name(p), _shown_default(p), meanings[p.name]) for p in params]


def signature_table(obj: Any, meanings: dict[str, str]) -> Any:
    """以 Markdown 表格（参数 | 默认值 | 含义）显示签名。"""
    from IPython.display import Markdown

    name = getattr(obj, "__qualname__", getattr(obj, "__name__", "?"))
    lines = [f"`{name}` 的参数：", "", "| 参数 | 默认值 | 含义 |", "| --- | --- | --- |"]
    for row in signature_rows(obj, meanings):
        cells = (cell.replace("|", "\\|") for cell in row)
        lines.append("| " + " | ".join(cells) + " |")
    return Markdown("\n".join(lines))
