"""中文搜索：术语表的每个术语、每个优化器与调度器的类名、每节的标题，在网页书的搜索里都能找到页面。

在浏览器里打开 search.html，用页面自己的 Sphinx 搜索脚本（searchtools.js）逐个查询，
一次页面会话里批量完成。
"""

import json
import sys

import pytest
from book_browser import Browser, require_chromium
from test_book import ROOT, needs_book, server  # noqa: F401  (server 是夹具)

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import optlab_search

QUERY_ALL = """
(async () => {
  const start = performance.now();
  // Search 是 searchtools.js 里的顶层 const，不在 window 上
  const ready = () => typeof Search !== "undefined" && Search._index;
  while (!ready() && performance.now() - start < 30000) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!ready()) throw new Error("搜索索引没有加载");
  const out = {};
  for (const q of QUERIES) {
    const parsed = Search._parseQuery(q);
    const results = Search._performSearch(...parsed);
    out[q] = results.map((r) => r[0]).filter((v, i, a) => a.indexOf(v) === i);
  }
  return out;
})()
"""


def queries() -> list[str]:
    terms = optlab_search.glossary_terms(ROOT / "book" / "glossary.md")
    names = optlab_search.api_names()
    titles = optlab_search.section_titles(ROOT)
    return list(dict.fromkeys(terms + names + titles))


@pytest.fixture(scope="module")
def search_results(server):  # noqa: F811  (夹具参数与导入同名)
    binary = require_chromium()
    base, _ = server
    wanted = queries()
    browser = Browser(binary)
    try:
        page = browser.new_page()
        # 先用一个真实的 ?q= 打开搜索页（页面按 URL 里的词搜索一次），再在同一会话里批量查询
        page.goto(f"{base}/search.html?q=%E5%AD%A6%E4%B9%A0%E7%8E%87")
        results = page.eval(f"const QUERIES = {json.dumps(wanted, ensure_ascii=False)};" + QUERY_ALL)
        shown = page.eval(
            "new Promise((r) => { const t0 = performance.now(); (function poll() {"
            " const n = document.querySelectorAll('#search-results li').length;"
            " if (n || performance.now() - t0 > 10000) r(n); else setTimeout(poll, 50); })(); })"
        )
        page.close()
    finally:
        browser.close()
    return wanted, results, shown


def test_query_list_covers_glossary_names_and_titles():
    terms = optlab_search.glossary_terms(ROOT / "book" / "glossary.md")
    assert len(terms) >= 70, f"术语表只解析出 {len(terms)} 个术语？"
    assert {"学习率", "动量", "权重衰减", "优化器", "指数移动平均"} <= set(terms)
    names = optlab_search.api_names()
    assert {"SGD", "Adam", "LBFGS", "OneCycleLR", "ReduceLROnPlateau", "SWALR"} <= set(names)
    titles = optlab_search.section_titles(ROOT)
    assert len(titles) >= 12 and sum(t.startswith("第 ") for t in titles) >= 11, titles


@needs_book
def test_search_page_shows_results_for_a_chinese_query(search_results):
    _, _, shown = search_results
    assert shown > 0, "search.html?q=学习率 没有列出任何结果"


@needs_book
def test_every_term_name_and_title_is_found(search_results):
    wanted, results, _ = search_results
    missing = [q for q in wanted if not results.get(q)]
    assert missing == [], f"{len(missing)}/{len(wanted)} 个词在网页书里搜不到：{missing}"
