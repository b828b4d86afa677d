"""练习：学生的单元格是空的、检查单元格先说“尚未作答”、参考答案折叠且真能通过检查。

结构检查很快；执行检查把每道题的参考答案代入作答单元格，用真实内核把整个笔记本重新跑一遍，
要求每个检查单元格都打印“✓ 正确”——参考答案写错或检查本身坏了，都会在这里失败。
"""

from __future__ import annotations

import json
import os
import re
from html import unescape
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from optlab.lab.exercises import CORRECT, NOT_ANSWERED

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
SOLUTION_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def source(cell) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def exercises(nb) -> list[tuple[int, int, int]]:
    """按出现顺序配对 (作答单元格, 检查单元格, 参考答案单元格) 的下标。"""
    by_tag = {
        tag: [i for i, c in enumerate(nb["cells"]) if tag in tags(c)]
        for tag in ("exercise-stub", "exercise-check", "exercise-solution")
    }
    stubs, checks, solutions = by_tag.values()
    assert len(stubs) == len(checks) == len(solutions), by_tag
    for stub, check, solution in zip(stubs, checks, solutions):
        assert stub < check < solution, "顺序应为：作答 → 检查 → 参考答案"
    return list(zip(stubs, checks, solutions))


def solution_code(cell) -> str:
    blocks = SOLUTION_BLOCK.findall(source(cell))
    assert len(blocks) == 1, "参考答案单元格里应恰好有一个 python 代码块"
    return blocks[0]


def stream_text(cell) -> str:
    return "".join(
        "".join(o.get("text", "")) for o in cell.get("outputs", []) if o["output_type"] == "stream"
    )


def load(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_cells_follow_the_convention(path):
    nb = load(path)
    for stub, check, solution in exercises(nb):
        stub_cell, check_cell, sol_cell = (nb["cells"][i] for i in (stub, check, solution))
        assert "..." in source(stub_cell), f"作答单元格 {stub} 应留空（用 ... 占位）"
        assert stub_cell.get("outputs") == [], f"作答单元格 {stub} 不应有输出"
        assert NOT_ANSWERED in stream_text(check_cell), (
            f"检查单元格 {check} 保存的输出应是“尚未作答”"
        )
        assert sol_cell["cell_type"] == "markdown"
        text = source(sol_cell)
        assert text.lstrip().startswith("<details") and "open" not in text.split(">", 1)[0], (
            f"参考答案 {solution} 应放在默认收起的 <details> 里"
        )
        solution_code(sol_cell)
    for i, cell in enumerate(nb["cells"]):
        assert "hide-input" not in tags(cell) or "exercise" not in " ".join(tags(cell)), i


def with_solutions(path: Path):
    nb = nbformat.read(path, as_version=4)
    found = exercises(nb)
    for stub, _, solution in found:
        nb.cells[stub].source = solution_code(nb.cells[solution])
    return nb, found


SOLVED = [p for p in NOTEBOOKS if exercises(load(p))]


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_reference_solutions_pass_their_checks(path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb, found = with_solutions(path)
    NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    ).execute()
    for stub, check, _ in found:
        printed = stream_text(nb.cells[check])
        assert CORRECT in printed, f"{path.name} 第 {check} 格：代入参考答案后输出为 {printed!r}"
    assert os.environ["OMP_NUM_THREADS"] == "1"


HTML_DIR = NOTEBOOK_DIR.parent / "_build" / "html" / "notebooks"
DETAILS = re.compile(r"<details\b([^>]*)>(.*?)</details>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def visible_text(html_fragment: str) -> str:
    return unescape(TAG.sub("", html_fragment))


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_built_html_keeps_solutions_collapsed(path):
    """网页版：每道题的参考答案都在一个收起（没有 open）、正确闭合的 <details> 里，答案代码渲染成代码块。"""
    page = HTML_DIR / f"{path.stem}.html"
    if not page.exists():
        pytest.skip("教材尚未构建（_build/html 不存在）：先运行 make book")
    html = page.read_text(encoding="utf-8")
    nb = load(path)
    solutions = [solution_code(nb["cells"][sol]) for _, _, sol in exercises(nb)]
    blocks = [
        (attrs, body) for attrs, body in DETAILS.findall(html) if "exercise-solution" in attrs
    ]
    assert len(blocks) == len(solutions), (
        f"{page.name}：网页里有 {len(blocks)} 个参考答案折叠块，笔记本里有 {len(solutions)} 道题"
    )
    for (attrs, body), code in zip(blocks, solutions):
        assert not re.search(r"\bopen\b", attrs), (
            f"{page.name}：参考答案默认应收起：<details{attrs}>"
        )
        assert "<summary>" in body and "参考答案" in body, f"{page.name}：折叠块缺少“参考答案”标题"
        assert "<pre" in body and 'class="highlight' in body, (
            f"{page.name}：参考答案应渲染成高亮的代码块，而不是普通文字"
        )
        shown = visible_text(body)
        for line in code.strip().splitlines():
            assert line.strip() in shown, f"{page.name}：参考答案里的这一行不在折叠块内：{line!r}"
    # 折叠块之外的代码块（作答格、检查格……）里不应出现完整的参考答案
    outside = [
        " ".join(visible_text(pre).split())
        for pre in re.findall(r"<pre\b.*?</pre>", DETAILS.sub("", html), re.DOTALL)
    ]
    for code in solutions:
        flat = " ".join(code.split())
        assert not any(flat in block for block in outside), (
            f"{page.name}：参考答案出现在折叠块之外：{code.strip().splitlines()[0]!r}"
        )
