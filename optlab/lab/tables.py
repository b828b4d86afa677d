"""笔记本里的表格：网页与 JupyterLab 显示为真正的表格，纯文本里按显示宽度对齐。

``print`` 出来的表格遇到中文就错位：一个汉字占两个英文字符宽。:class:`Table` 同时提供
Markdown（渲染成表格）与按显示宽度补齐的纯文本两种形式，由前端挑选。
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Table", "display_width", "pad"]


def display_width(text: str) -> int:
    """等宽字体里的显示宽度：全角与宽字符（汉字、全角标点）算 2。"""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int, align: str = "<") -> str:
    """按显示宽度补空格；``align`` 为 ``"<"`` 左对齐、``">"`` 右对齐。"""
    fill = " " * max(0, width - display_width(text))
    return text + fill if align == "<" else fill + text


def _cell(value: Any, fmt: str | None) -> str:
    if fmt is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, fmt)
    return str(value)


class Table:
    """一张表：``Table(["优化器", "损失"], rows, formats={"损失": ".3g"})``，放在单元格最后一行即可显示。

    数字列右对齐、其余左对齐；``formats`` 按列名给出数字的格式。
    """

    def __init__(
        self,
        headers: Sequence[str],
        rows: Iterable[Sequence[Any]],
        formats: dict[str, str] | None = None,
    ) -> None:
        formats = formats or {}
        self.headers = [str(h) for h in headers]
        raw = [list(r) for r in rows]
        self.numeric = [
            all(isinstance(r[j], (int, float)) and not isinstance(r[j], bool) for r in raw)
            and bool(raw)
            for j in range(len(self.headers))
        ]
        self.rows = [
            [_cell(v, formats.get(h)) for v, h in zip(r, self.headers)] for r in raw
        ]

    def _repr_markdown_(self) -> str:
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        rule = ["---:" if num else "---" for num in self.numeric]
        return "\n".join([line(self.headers), line(rule), *(line(r) for r in self.rows)])

    def _repr_html_(self) -> str:
        # 网页版教材（myst-nb 按 CommonMark 渲染 Markdown 输出，不认表格语法）与 JupyterLab 都优先用 HTML
        def row(cells: Sequence[str], tag: str) -> str:
            aligns = ("right" if num else "left" for num in self.numeric)
            return "<tr>" + "".join(
                f'<{tag} style="text-align: {align}">{html.escape(c)}</{tag}>'
                for c, align in zip(cells, aligns)
            ) + "</tr>"

        body = "".join(row(r, "td") for r in self.rows)
        return (
            '<table class="optlab-table">'
            f"<thead>{row(self.headers, 'th')}</thead><tbody>{body}</tbody></table>"
        )

    def __repr__(self) -> str:
        widths = [
            max(display_width(c) for c in column)
            for column in zip(self.headers, *self.rows)
        ]
        def line(cells: Sequence[str]) -> str:
            return "  ".join(
                pad(c, w, ">" if num else "<")
                for c, w, num in zip(cells, widths, self.numeric)
            ).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([line(self.headers), rule, *(line(r) for r in self.rows)])
