"""术语与读者可见文字的约定：术语表（book/glossary.md）说了算。

- 正文（笔记本的 Markdown 单元格、book/ 下的 .md 页面）不用术语表之外的变体：epoch → 迭代周期/轮，
  滑动平均 → 指数移动平均，正文里的 LBFGS → L-BFGS（类名写在代码里），步子 → 步长，
  正文里光秃秃的 BatchNorm → 批归一化层/批归一化统计量，以及几个直译腔（背靠背、噪声地板、
  “cos 退火”）和不该出现在读者面前的内部用语（大纲、审阅、issue）。
  代码片段（`...`）和围栏代码块不检查；中文变体在代码单元格的注释、字符串与输出里同样不许出现
  （图标题、打印的表格都是读者看得到的文字）。
- 正文里每处“第 N 节”都写成（或位于）指向第 N 节笔记本的链接，构建会检查链接是否有效。
- 笔记本里不用 ``# NBVAL_...`` 注释（读者在网页上看得到），改用单元格标签。

按文件参数化，哪个笔记本或页面还没改好一目了然；失败信息列出 文件 / 单元格 / 行。
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PAGES = sorted((ROOT / "book").rglob("*.md"))
GLOSSARY = ROOT / "book" / "glossary.md"

# (正则, 应改成什么)。ENGLISH 里的只查正文（代码里 epoch、LBFGS、BatchNorm 是合法的名字）；
# CHINESE 里的在正文、代码注释/字符串和输出里都查。
ENGLISH_RULES = [
    (re.compile(r"(?<![A-Za-z_])epochs?(?![A-Za-z_])", re.IGNORECASE), "迭代周期/轮（epoch）"),
    (re.compile(r"(?<![A-Za-z_-])LBFGS(?![A-Za-z_])"), "正文写 L-BFGS（LBFGS 只作类名放在代码里）"),
    (re.compile(r"(?<![A-Za-z_.])BatchNorm(?![A-Za-z0-9_])"), "批归一化层 / 批归一化统计量"),
    (
        re.compile(r"(?<![A-Za-z_-])issues?(?![A-Za-z_-])", re.IGNORECASE),
        "不要在读者可见的文字里提 issue",
    ),
]
CHINESE_RULES = [
    (re.compile(r"滑动平均"), "指数移动平均"),
    (re.compile(r"步子"), "步长"),
    (re.compile(r"背靠背"), "依次叠加 / 串联"),
    (re.compile(r"噪声地板"), "噪声底 / 误差平台"),
    (re.compile(r"(?<![A-Za-z_])(cos|cosine|linear)\s*退火", re.IGNORECASE), "余弦退火 / 线性退火"),
    (re.compile(r"大纲"), "常见写法 / 旧版文档（读者没见过“大纲”）"),
    (re.compile(r"审阅"), "不要在读者可见的文字里提审阅"),
]

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
SECTION = re.compile(r"第\s*(\d+)\s*节")
MD_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?[^)]*\)")
DOC_ROLE = re.compile(r"\{doc\}`([^`]*)`")
NBVAL_COMMENT = re.compile(r"#\s*NBVAL_[A-Z_]+")


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def outside_fences(text: str):
    """逐个给出围栏代码块之外的 (行号, 行)。"""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        opened = FENCE.match(line)
        if fence:
            if opened and opened.group(2)[0] == fence[0] and len(opened.group(2)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(2)
            continue
        yield number, line


def prose_lines(text: str) -> list[tuple[int, str]]:
    """正文的 (行号, 行)：去掉围栏代码块，行内代码与链接地址换成空白。"""
    lines = []
    for number, line in outside_fences(text):
        line = INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)
        line = LINK_TARGET.sub("]()", line)
        lines.append((number, line))
    return lines


def outputs_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append("".join(out.get("text", "")))
        for mime in ("text/plain", "text/markdown", "text/html"):
            data = out.get("data", {}).get(mime)
            if data:
                parts.append("".join(data) if isinstance(data, list) else data)
    return "\n".join(parts)


def term_problems(where: str, text: str, rules, *, prose: bool) -> list[str]:
    found = []
    lines = prose_lines(text) if prose else list(enumerate(text.splitlines(), start=1))
    for number, line in lines:
        for pattern, preferred in rules:
            for hit in pattern.finditer(line):
                found.append(
                    f"{where} 第 {number} 行：“{hit.group(0)}” → {preferred}  |  {line.strip()[:80]}"
                )
    return found


def units(path: Path):
    """(位置描述, 单元格类型, 文本, 单元格) ——页面算一个 Markdown 单元格。"""
    rel = path.relative_to(ROOT)
    if path.suffix == ".md":
        yield str(rel), "markdown", path.read_text(encoding="utf-8"), {}
        return
    for i, cell in enumerate(cells(path)):
        yield f"{rel} 单元格 {i}", cell["cell_type"], source(cell), cell


# 术语表本身列出英文原文与要避免的写法，不查
FILES = NOTEBOOKS + [p for p in PAGES if p != GLOSSARY]


def file_id(path: Path) -> str:
    """测试编号只用 ASCII（pytest 会把中文转义成 \\uXXXX）：nb03、book/parts/basics.md。"""
    if path.suffix == ".ipynb":
        return "nb" + path.stem.split("-", 1)[0]
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", FILES, ids=file_id)
def test_terms_follow_the_glossary(path):
    problems = []
    for where, kind, text, cell in units(path):
        if kind == "markdown":
            problems += term_problems(where, text, ENGLISH_RULES + CHINESE_RULES, prose=True)
        elif kind == "code":
            problems += term_problems(where, text, CHINESE_RULES, prose=False)
            problems += term_problems(
                f"{where} 的输出", outputs_text(cell), CHINESE_RULES, prose=False
            )
    assert not problems, "术语与术语表不一致：\n" + "\n".join(problems)


def notebook_number(target: str) -> int | None:
    """链接目标指向的笔记本编号：…/06-自适应学习率.ipynb#x 或 {doc} 的 06-自适应学习率。"""
    name = target.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    match = re.match(r"(\d+)-", name)
    if not match:
        return None
    stem = name.removesuffix(".ipynb")
    if not (ROOT / "notebooks" / f"{stem}.ipynb").exists():
        return None
    return int(match.group(1))


def link_spans(line: str) -> list[tuple[int, int, int | None]]:
    spans = []
    for m in MD_LINK.finditer(line):
        spans.append((m.start(), m.end(), notebook_number(m.group(2))))
    for m in DOC_ROLE.finditer(line):
        inner = m.group(1)
        target = inner.rsplit("<", 1)[1].rstrip(">").strip() if "<" in inner else inner.strip()
        spans.append((m.start(), m.end(), notebook_number(target)))
    return spans


def section_problems(where: str, text: str, *, title_line: int | None) -> list[str]:
    problems = []
    for number, line in outside_fences(text):
        if number == title_line:
            continue
        spans = link_spans(line)
        for m in SECTION.finditer(line):
            wanted = int(m.group(1))
            inside = [target for start, end, target in spans if start <= m.start() < end]
            if not inside:
                problems.append(
                    f"{where} 第 {number} 行：“{m.group(0)}” 不在链接里  |  {line.strip()[:80]}"
                )
            elif inside[0] != wanted:
                problems.append(
                    f"{where} 第 {number} 行：“{m.group(0)}” 链接到的是 {inside[0]!r} 号笔记本  |  {line.strip()[:80]}"
                )
    return problems


@pytest.mark.parametrize("path", FILES, ids=file_id)
def test_section_mentions_are_checked_links(path):
    problems = []
    for index, (where, kind, text, _) in enumerate(units(path)):
        if kind != "markdown":
            continue
        # 笔记本第一个单元格的一级标题“# 第 N 节 …”就是本节自己
        title = (
            next((n for n, line in enumerate(text.splitlines(), 1) if line.startswith("# ")), None)
            if index == 0 and path.suffix == ".ipynb"
            else None
        )
        problems += section_problems(where, text, title_line=title)
    assert not problems, "“第 N 节”要写成指向该节笔记本的链接：\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=file_id)
def test_no_nbval_comments(path):
    problems = [
        f"{path.name} 单元格 {i}：{m.group(0)}（改用单元格标签，如 nbval-ignore-output）"
        for i, cell in enumerate(cells(path))
        if cell["cell_type"] == "code"
        for m in NBVAL_COMMENT.finditer(source(cell))
    ]
    assert not problems, "\n".join(problems)


def test_rules_catch_what_they_should():
    """规则自身的小测：各举一个该报和不该报的例子。"""
    text = "训练 10 个 epoch，用 `epoch` 变量；LBFGS 与 L-BFGS；`LBFGS`；BatchNorm 层；`nn.BatchNorm1d`\n```python\nfor epoch in range(3): pass\n```"
    hits = term_problems("例", text, ENGLISH_RULES, prose=True)
    assert [h.split("“")[1].split("”")[0] for h in hits] == ["epoch", "LBFGS", "BatchNorm"]
    assert term_problems("例", "print('cos 退火')", CHINESE_RULES, prose=False)
    assert not term_problems("例", "余弦退火与指数移动平均", CHINESE_RULES, prose=False)
    ok = "见 [第 6 节《自适应学习率》](06-自适应学习率.ipynb) 与 {doc}`第 3 节 <03-学习率调度>`"
    assert section_problems("例", ok, title_line=None) == []
    assert len(section_problems("例", "见第 6 节。", title_line=None)) == 1
    assert len(section_problems("例", "见 [第 6 节](05-SGD与动量.ipynb)。", title_line=None)) == 1
