"""参考文献在网页书里按“作者（年份）”显示，标签里没有 TeX 残留（如 ``GDollarG+17``）。"""

import re
from html.parser import HTMLParser

from test_book import HTML_DIR, needs_book

# TeX 残留与字母缩写式标签（[KB15]、[GDollarG+17]）
TEX_DEBRIS = re.compile(r"[\\{}$]|Dollar|\\'|~")
ALPHA_LABEL = re.compile(r"^[A-Z][A-Za-z+]*\d{2}[a-z]?$")
YEAR = re.compile(r"(1[89]|20)\d\d[a-z]?")


class Citations(HTMLParser):
    """收集正文里的引用（span.bibtex-citation 的文字）与参考文献列表里的标签（div.citation > span.label）。"""

    def __init__(self):
        super().__init__()
        self.citations: list[str] = []
        self.labels: list[str] = []
        self._stack: list[tuple[str, str | None]] = []  # (tag, 收集到哪个列表)

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        target = None
        if tag == "span" and "bibtex-citation" in classes:
            target = "citations"
            self.citations.append("")
        elif tag == "span" and "label" in classes and self._in_citation_div():
            target = "labels"
            self.labels.append("")
        elif tag == "div" and "citation" in classes:
            target = "div"
        self._stack.append((tag, target))

    def _in_citation_div(self) -> bool:
        return any(target == "div" for _, target in self._stack)

    def handle_endtag(self, tag):
        while self._stack:
            top, _ = self._stack.pop()
            if top == tag:
                break

    def handle_data(self, data):
        for _, target in reversed(self._stack):
            if target == "citations":
                self.citations[-1] += data
                return
            if target == "labels":
                self.labels[-1] += data
                return


def collect():
    found = {}
    for page in sorted(HTML_DIR.rglob("*.html")):
        if "_static" in page.parts:
            continue
        parser = Citations()
        parser.feed(page.read_text(encoding="utf-8"))
        if parser.citations or parser.labels:
            found[page.relative_to(HTML_DIR).as_posix()] = parser
    return found


@needs_book
def test_in_text_citations_are_author_year():
    pages = collect()
    citations = [(name, text.strip()) for name, p in pages.items() for text in p.citations]
    assert len(citations) > 30, f"只找到 {len(citations)} 处引用？"
    bad = [
        f"{name}: {text}"
        for name, text in citations
        if TEX_DEBRIS.search(text) or not YEAR.search(text) or ALPHA_LABEL.search(text.strip("[]（）"))
        or not text.endswith("）")
    ]  # fmt: skip
    # {cite}/{cite:p} 显示为“（Kingma 与 Ba，2015）”，{cite:t} 显示为“Kingma 与 Ba（2015）”
    assert bad == [], "正文引用应当形如“（Kingma 与 Ba，2015）”或“Kingma 与 Ba（2015）”：\n" + "\n".join(bad[:20])


@needs_book
def test_bibliography_labels_are_author_year_without_tex():
    # 方括号是 docutils 的 fn-bracket（optlab.css 把它藏起来）
    labels = [text.strip().strip("[]") for p in collect().values() for text in p.labels]
    assert len(labels) >= 25, f"参考文献列表只有 {len(labels)} 条？"
    bad = [label for label in labels if TEX_DEBRIS.search(label) or not re.search(r"，(1[89]|20)\d\d[a-z]?$", label)]
    assert bad == [], f"参考文献标签应当形如“Goyal 等，2017”：{bad}"
    assert "Goyal 等，2017" in labels


def test_bib_file_has_no_tex_escapes():
    from test_book import ROOT

    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    authors = re.findall(r"author\s*=\s*\{(.*)\},?\s*$", text, re.MULTILINE)
    assert authors
    escaped = [a for a in authors if "\\" in a]
    assert escaped == [], f"作者名请直接写 UTF-8（如 Dollár），不要用 TeX 转义：{escaped}"
