"""网页书里的中文是不是真的画成了字，而不是方框：按浏览器实际画出来的结果检查。

机器上没有任何中文系统字体，中文只能靠书自带的网页字体（optlab.css 里的 "Optlab CJK"）。
检查 DOM（类名、字体子集的码位）看不出方框，这里看画出来的东西：

1. 每个页面的每个含中文的文字节点：在 canvas 上用节点的计算字体量这段中文的宽度，再用去掉全部
   中文字体后的同一字体栈量一次。两者相等说明计算字体里没有能画这些字的字体——浏览器画的是方框。
2. 页面框架（站点标题、搜索按钮、侧栏、页眉页脚）：字体到达之前就排好版的文字可能一直是方框。
   截图，然后给这些元素换一个新的字体描述（强制重新排字），再截图；每个元素前后的像素必须相同。
3. 页面上出现的每个中文字符都在字体子集里（包括代码、输出和脚本运行时插入的文字）。

用 OPTLAB_BOOK_HTML=某个旧构建的 _build/html 运行，可以看到旧版本在这里失败。
"""

from __future__ import annotations

import io

import pytest
from book_browser import visit_pages
from fontTools.ttLib import TTFont
from test_book import HTML_DIR, font_face, needs_book, server  # noqa: F401  (server 是夹具)
from test_book_pages import built_pages

# 与 optlab.css 的 unicode-range 一致的中文区间（JS 正则）
CJK_CLASS = (
    r"\u2E80-\u2FDF\u3000-\u303F\u3040-\u30FF\u3100-\u312F\u3190-\u31FF\u3400-\u4DBF"
    r"\u4E00-\u9FFF\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFFEF"
)

# 每个文字节点：计算字体 vs 去掉中文字体的字体栈，宽度相等即方框
GLYPH_PROBE = r"""
(() => {
  const CJK = /[%CJK%]/g;
  const CJK_FAMILIES = ["optlab cjk", "noto sans cjk sc", "noto serif cjk sc", "pingfang sc",
    "microsoft yahei", "source han sans sc", "source han serif sc", "wenquanyi micro hei",
    "hiragino sans gb", "simsun", "simhei"];
  const ctx = document.createElement("canvas").getContext("2d");
  const withoutCjk = (family) => {
    const kept = family.split(",").map((f) => f.trim())
      .filter((f) => !CJK_FAMILIES.includes(f.replace(/["']/g, "").toLowerCase()));
    return kept.length ? kept.join(", ") : "monospace";
  };
  const width = (font, text) => { ctx.font = font; return ctx.measureText(text).width; };
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  const boxes = [];
  const chars = new Set();
  let nodes = 0;
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || el.closest("script, style, noscript, template, title")) continue;
    const cjk = (node.nodeValue.match(CJK) || []).join("");
    if (!cjk) continue;
    nodes += 1;
    for (const ch of cjk) chars.add(ch);
    const cs = getComputedStyle(el);
    const prefix = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} `;
    if (Math.abs(width(prefix + cs.fontFamily, cjk) - width(prefix + withoutCjk(cs.fontFamily), cjk)) < 0.01) {
      const cls = typeof el.className === "string" ? el.className : "";
      boxes.push(`<${el.tagName.toLowerCase()}${cls ? " class=" + cls : ""}> ${node.nodeValue.trim().slice(0, 30)}`);
    }
  }
  // 探测器自检：同一段中文在中文网页字体与无中文字体下宽度必须不同
  const control = [width('16px "Optlab CJK", monospace', "中文字"), width("16px monospace", "中文字")];
  return {nodes, boxes, chars: [...chars].join(""), control};
})()
""".replace("%CJK%", CJK_CLASS)

# 页面框架里含中文、在视口内可见的元素的位置
CHROME = (
    ".bd-header, .bd-sidebar-primary, .bd-header-article, .bd-sidebar-secondary, "
    ".prev-next-area, .bd-footer, .bd-footer-content, .bd-footer-article"
)
CHROME_RECTS = r"""
(() => {
  const CJK = /[%CJK%]/;
  const seen = [];
  document.querySelectorAll("%CHROME%").forEach((box) => {
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const el = walker.currentNode.parentElement;
      if (el && !seen.includes(el) && CJK.test(walker.currentNode.nodeValue)) seen.push(el);
    }
  });
  window.__optlabChrome = seen;
  return seen.map((el) => {
    const r = el.getBoundingClientRect();
    return {text: el.textContent.trim().slice(0, 30), x: r.left, y: r.top, w: r.width, h: r.height};
  });
})()
""".replace("%CJK%", CJK_CLASS).replace("%CHROME%", CHROME)

# 给页面框架换一个新的字体描述（不存在的 OpenType 特性，外观不变），迫使浏览器重新排字
RELAYOUT = r"""
(() => {
  document.querySelectorAll("%CHROME%").forEach((box) => {
    [box, ...box.querySelectorAll("*")].forEach((el) => { el.style.fontFeatureSettings = '"zzzz" 1'; });
  });
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(true))));
})()
""".replace("%CHROME%", CHROME)
CHROME_RECTS_AGAIN = """
window.__optlabChrome.map((el) => {
  const r = el.getBoundingClientRect();
  return {text: el.textContent.trim().slice(0, 30), x: r.left, y: r.top, w: r.width, h: r.height};
})
"""
SETTLE = """
new Promise((resolve) => {
  const start = performance.now();
  const poll = () => {
    const ready = document.documentElement.classList.contains("optlab-fonts-ready");
    if (ready || performance.now() - start > 5000) {
      requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => resolve(ready), 100)));
    } else setTimeout(poll, 50);
  };
  poll();
})
"""


def _crop(image, rect):
    box = (round(rect["x"]), round(rect["y"]), round(rect["x"] + rect["w"]), round(rect["y"] + rect["h"]))
    return image.crop(box)


def _visible(rect, size) -> bool:
    width, height = size
    return rect["w"] >= 1 and rect["h"] >= 1 and rect["x"] >= 0 and rect["y"] >= 0 \
        and rect["x"] + rect["w"] <= width and rect["y"] + rect["h"] <= height  # fmt: skip


def chrome_changes(page) -> tuple[int, list[str]]:
    """截图、强制重新排字、再截图；返回（比较的元素数，像素变了的元素）。"""
    from PIL import Image, ImageChops

    before_rects = page.eval(CHROME_RECTS)
    before = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    page.eval(RELAYOUT)
    after_rects = page.eval(CHROME_RECTS_AGAIN)
    after = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    compared, changed = 0, []
    for old, new in zip(before_rects, after_rects):
        if not (_visible(old, before.size) and _visible(new, after.size)):
            continue
        compared += 1
        a, b = _crop(before, old), _crop(after, new)
        if a.size != b.size or ImageChops.difference(a, b).getbbox() is not None:
            changed.append(old["text"])
    return compared, changed


@pytest.fixture(scope="module")
def drawn(server):  # noqa: F811  (夹具参数与导入同名)
    """逐页打开（同一个 Chromium），收集文字节点的测量结果与页面框架的前后截图比较。"""
    base, _ = server

    def probe(page):
        page.eval(SETTLE)
        result = page.eval(GLYPH_PROBE)
        result["chrome"] = chrome_changes(page)
        return result

    return visit_pages(base, built_pages(), probe)


def _skip_if_system_has_cjk(drawn) -> None:
    # 无中文系统字体时，"Optlab CJK" 画的汉字（每字 1em）与回退字体画的方框宽度不同；
    # 若机器装了中文系统字体，两者会一样宽，宽度就分辨不出方框
    with_font, without = next(iter(drawn.values()))["control"]
    if abs(with_font - without) < 0.01:
        pytest.skip("这台机器的等宽字体自带汉字：无法用宽度分辨方框")


@needs_book
def test_detector_tells_boxes_from_glyphs(drawn):
    _skip_if_system_has_cjk(drawn)
    with_font, _ = next(iter(drawn.values()))["control"]
    assert with_font == pytest.approx(48, abs=0.5), "中文网页字体没有加载：三个汉字应当正好 3em 宽"


@needs_book
def test_every_chinese_text_node_is_drawn_with_a_chinese_font(drawn):
    _skip_if_system_has_cjk(drawn)
    total = sum(result["nodes"] for result in drawn.values())
    assert total > 1000, f"只找到 {total} 个含中文的文字节点？"
    problems = [f"{name}: {box}" for name, result in drawn.items() for box in result["boxes"]]
    assert problems == [], f"{len(problems)} 个文字节点的中文画成了方框，例如：\n" + "\n".join(problems[:40])


@needs_book
def test_page_chrome_is_not_left_with_boxes(drawn):
    compared = sum(result["chrome"][0] for result in drawn.values())
    assert compared > 100, f"只比较了 {compared} 个页面框架元素？"
    problems = [f"{name}: {text}" for name, result in drawn.items() for text in result["chrome"][1]]
    assert problems == [], (
        f"{len(problems)} 个页面框架元素在强制重新排字后变了样（字体到达前排版、一直画着方框），例如：\n"
        + "\n".join(problems[:40])
    )


@needs_book
def test_font_subset_has_every_character_on_every_page(drawn):
    font_path, _ = font_face()
    cmap = TTFont(font_path).getBestCmap()
    missing = {}
    for name, result in drawn.items():
        lacking = sorted({ch for ch in result["chars"] if ord(ch) not in cmap})
        if lacking:
            missing[name] = "".join(lacking)
    assert missing == {}, f"字体子集缺字（含代码、输出与脚本插入的文字）：{missing}"
