"""Sphinx 扩展：中文全文搜索用的 jieba 用户词典，构建时生成。

Sphinx 的中文搜索用 jieba 分词；jieba 自带的词典不认识“学习率”“权重衰减”这类术语，
会把它们拆成“学习”“率”，于是搜索整个术语找不到任何页面。这里在构建开始时从
``book/glossary.md`` 的术语、全部优化器与调度器的类名、各节标题生成一个用户词典，
通过 ``html_search_options = {"dict": 路径}`` 交给 Sphinx。
"""

from __future__ import annotations

import json
import re
from pathlib import Path

DICT_NAME = "optlab-search-dict.txt"
_SPLIT = re.compile(r"[/／、]")
_HEADING = re.compile(r"^#\s+(.+?)\s*$", re.MULTILINE)
# jieba 切词前先按这类字符分块（与 jieba.re_han_default 相同）：词典里的词只能由它们组成
_BLOCK = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]+")


def glossary_terms(path: Path) -> list[str]:
    """术语表里每张表第一列的中文术语（“A/B” 写法拆成两个）。"""
    terms: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2:
            continue
        first = cells[0].replace("`", "").replace("*", "").strip()
        if not first or set(first) <= set("-: ") or first == "中文":
            continue
        terms += [t.strip() for t in _SPLIT.split(first) if t.strip()]
    return terms


def api_names() -> list[str]:
    """optlab 里全部优化器与学习率调度器的类名（与 torch.optim 同名）。"""
    import optlab
    from optlab import lr_scheduler

    names = []
    for module, base in ((optlab, optlab.Optimizer), (lr_scheduler, lr_scheduler.LRScheduler)):
        for name in getattr(module, "__all__", dir(module)):
            obj = getattr(module, name, None)
            if isinstance(obj, type) and issubclass(obj, base) and obj is not base:
                names.append(name)
    from optlab import swa_utils

    if isinstance(getattr(swa_utils, "SWALR", None), type):
        names.append("SWALR")
    return sorted(set(names))


def section_titles(srcdir: Path) -> list[str]:
    """每个笔记本的标题（第一个一级标题），如“第 6 节 自适应学习率”。"""
    titles = []
    for path in sorted((srcdir / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        for cell in cells:
            if cell.get("cell_type") == "markdown":
                found = _HEADING.search("".join(cell.get("source", [])))
                if found:
                    titles.append(found.group(1))
                    break
    return titles


def dictionary_words(srcdir: Path) -> list[str]:
    """用户词典里的词：术语、类名、标题；按空格与标点拆开（jieba 的词不能跨越它们）。"""
    words: set[str] = set()
    phrases = glossary_terms(srcdir / "book" / "glossary.md") + api_names() + section_titles(srcdir)
    for phrase in phrases:
        for word in _BLOCK.findall(phrase):
            # “第”“节”和纯数字不进词典
            if len(word) > 1 and not word.isdigit():
                words.add(word)
    return sorted(words)


def single_character_terms(srcdir: Path) -> set[str]:
    """只有一个字的术语（如“步”）：jieba 与 Sphinx 默认都不把单字当作可搜索的词。"""
    return {t for t in glossary_terms(srcdir / "book" / "glossary.md") if len(t) == 1 and not t.isascii()}


def chinese_search_language(single: set[str]):
    """Sphinx 的中文搜索语言，外加：单字术语出现在文中时也进索引。"""
    from sphinx.search.zh import SearchChinese

    class OptlabSearchChinese(SearchChinese):
        def split(self, input: str) -> list[str]:
            words = super().split(input)
            return words + [ch for ch in input if ch in single]

        def word_filter(self, stemmed_word: str) -> bool:
            return stemmed_word in single or super().word_filter(stemmed_word)

    return OptlabSearchChinese


def write_dictionary(app, config) -> None:
    srcdir = Path(app.srcdir)
    target = Path(app.doctreedir).parent / DICT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{word}\n" for word in dictionary_words(srcdir))
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    config.html_search_options = {**(config.html_search_options or {}), "dict": str(target)}
    from sphinx.search import languages

    languages["zh"] = chinese_search_language(single_character_terms(srcdir))


def setup(app):
    app.connect("config-inited", write_dictionary)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
