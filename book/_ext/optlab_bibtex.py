"""Sphinx 扩展：参考文献按“作者（年份）”引用。

- 正文引用：``{cite}``/``{cite:p}`` 显示为“（Kingma 与 Ba，2015）”，``{cite:t}`` 显示为
  “Kingma 与 Ba（2015）”；三位及以上作者写成“第一作者 等”。
- 参考文献列表：条目按作者姓氏、年份排序，标签同样是“作者，年份”，不再是 ``[KB15]`` 这类缩写。

在 ``_config.yml`` 里用 ``bibtex_reference_style: optlab_author_year`` 与
``bibtex_default_style: optlab`` 启用。
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import pybtex.plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinxcontrib.bibtex.plugin import register_plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle, PersonStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

AND = " 与 "
OTHERS = " 等"


def _round_brackets() -> BracketStyle:
    # 多条引用之间用中文分号分隔
    return BracketStyle(left="（", right="）", sep="；", sep2="；", last_sep="；")


def _plain_brackets() -> BracketStyle:
    return BracketStyle(left="（", right="）", sep="，", sep2="，", last_sep="，")


def _person() -> PersonStyle:
    return PersonStyle(sep="、", sep2=AND, last_sep=AND, other=OTHERS)


@dataclass
class OptlabAuthorYearStyle(AuthorYearReferenceStyle):
    """作者–年份引用，中文括号与连接词。"""

    bracket_textual: BracketStyle = field(default_factory=_plain_brackets)
    bracket_parenthetical: BracketStyle = field(default_factory=_round_brackets)
    bracket_author: BracketStyle = field(default_factory=_plain_brackets)
    bracket_label: BracketStyle = field(default_factory=_round_brackets)
    bracket_year: BracketStyle = field(default_factory=_plain_brackets)
    person: PersonStyle = field(default_factory=_person)
    author_year_sep: str = "，"
    text_reference_sep: str = ""


def _surname(person) -> str:
    # 只取姓（含 von 部分），用纯文本：bib 文件里的名字都是 UTF-8，不含 TeX 转义
    parts = person.prelast_names + person.last_names
    return " ".join(unicodedata.normalize("NFC", str(part)) for part in parts)


class AuthorYearLabelStyle(BaseLabelStyle):
    """参考文献列表里的标签：“Kingma 与 Ba，2015”“Goyal 等，2017”。"""

    def format_label(self, entry) -> str:
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_surname(p) for p in persons]
        if not names:
            who = str(entry.fields.get("title", entry.key))
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = AND.join(names)
        else:
            who = names[0] + OTHERS
        return f"{who}，{entry.fields.get('year', '')}"

    def format_labels(self, sorted_entries):
        labels = [self.format_label(entry) for entry in sorted_entries]
        count = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if count[label] == 1:
                yield label
            else:
                # 同一作者同一年：2017a、2017b
                seen[label] += 1
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]


class OptlabBibliographyStyle(UnsrtStyle):
    """条目按作者、年份、标题排序，标签用作者–年份。"""

    default_sorting_style = "author_year_title"
    default_label_style = "optlab_author_year"


def setup(app):
    register_plugin("sphinxcontrib.bibtex.style.referencing", "optlab_author_year",
                    OptlabAuthorYearStyle, force=True)  # fmt: skip
    pybtex.plugin.register_plugin("pybtex.style.labels", "optlab_author_year", AuthorYearLabelStyle, force=True)
    pybtex.plugin.register_plugin("pybtex.style.formatting", "optlab", OptlabBibliographyStyle, force=True)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
