"""在笔记本里展示 optlab 自己的源码：直接从库里读取，书中的代码永远不会和库脱节。"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any

__all__ = ["show_source", "source_of"]


def source_of(obj: Any, *, start: str | None = None, end: str | None = None) -> str:
    """返回对象（类、函数、方法）的源码；``start``/``end`` 给出时只截取从含 ``start`` 的行到含 ``end`` 的行。"""
    lines = textwrap.dedent(inspect.getsource(obj)).splitlines()
    if start is not None:
        first = next(i for i, line in enumerate(lines) if start in line)
        lines = lines[first:]
    if end is not None:
        last = next(i for i, line in enumerate(lines) if end in line)
        lines = lines[: last + 1]
    return "\n".join(lines)


def show_source(obj: Any, *, start: str | None = None, end: str | None = None) -> Any:
    """以 Markdown 代码块显示源码并注明出处；书里按主题配色高亮，JupyterLab 里同样高亮。"""
    from IPython.display import Markdown

    # 被装饰的函数（如 @torch.no_grad()）要找回原函数，否则文件名指向装饰器所在的 torch 文件
    obj = inspect.unwrap(obj)
    path = inspect.getsourcefile(obj) or "?"
    where = path[path.rfind("optlab") :] if "optlab" in path else path
    line = inspect.getsourcelines(obj)[1]
    header = f"# 来自 {where}（第 {line} 行起）"
    return Markdown(f"```python\n{header}\n{source_of(obj, start=start, end=end)}\n```")
