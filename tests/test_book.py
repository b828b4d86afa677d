"""网页版教材的离线测试：用无头 Chromium 打开构建好的页面，检查公式、网络依赖与中文字体。"""

import functools
import http.server
import json
import os
import re
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from book_browser import HEADLESS_FLAGS, require_chromium
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parent.parent
# OPTLAB_BOOK_HTML 可以指向另一份构建（例如旧版本的 _build/html），用同一组测试检查它
HTML_DIR = Path(os.environ.get("OPTLAB_BOOK_HTML") or ROOT / "_build" / "html")
PROBE_PATH = "/__optlab_font_probe.html"

needs_book = pytest.mark.skipif(
    not (HTML_DIR / "index.html").exists(),
    reason="教材尚未构建（_build/html 不存在）：先运行 make book；make test 会自动构建",
)


def toc_pages() -> list[str]:
    """_toc.yml 里列出的全部页面（相对 _build/html 的 .html 路径）。"""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", []))
    return [f"{name}.html" for name in files]


class PageParser(HTMLParser):
    """收集可见文字（跳过脚本、样式、代码）以及所有 script src / link href。"""

    SKIP = frozenset({"script", "style", "pre", "code", "textarea", "mjx-assistive-mml"})

    def __init__(self):
        super().__init__()
        self.depth_skipped = 0
        self.text_parts: list[str] = []
        self.resources: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.resources.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.resources.append(attrs["href"])
        if tag in ("img", "iframe", "audio", "video", "source") and attrs.get("src"):
            self.resources.append(attrs["src"])
        if tag in self.SKIP:
            self.depth_skipped += 1
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack:
                top = self.stack.pop()
                if top in self.SKIP:
                    self.depth_skipped -= 1
                if top == tag:
                    break

    def handle_data(self, data):
        if self.depth_skipped == 0:
            self.text_parts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser


def font_face() -> tuple[Path, list[tuple[int, int]]]:
    """从 optlab.css 读出中文字体文件与它负责的 unicode-range。"""
    css = (HTML_DIR / "_static" / "optlab.css").read_text(encoding="utf-8")
    block = re.search(r"@font-face\s*{(.*?)}", css, re.DOTALL)
    assert block, "optlab.css 里没有 @font-face"
    url = re.search(r'url\("?([^")]+)"?\)', block.group(1))
    assert url, "@font-face 没有 src url"
    assert not url.group(1).startswith(("http:", "https:", "//")), "字体不能来自网络"
    ranges = []
    spec = re.search(r"unicode-range:([^;]+);", block.group(1), re.DOTALL)
    assert spec, "@font-face 没有 unicode-range"
    for item in spec.group(1).split(","):
        lo, _, hi = item.strip().removeprefix("U+").partition("-")
        ranges.append((int(lo, 16), int(hi or lo, 16)))
    return HTML_DIR / "_static" / url.group(1), ranges


def chars_needing_font(text: str, ranges) -> set[str]:
    return {ch for ch in text if any(lo <= ord(ch) <= hi for lo, hi in ranges)}


def probe_page(sample: str) -> bytes:
    """一个只加载 optlab.css 的探针页：脚本把浏览器实际加载到的字体写回 DOM。"""
    script = (
        "document.fonts.load('16px \"Optlab CJK\"', SAMPLE).then(function (faces) {"
        "  document.body.setAttribute('data-loaded', String(faces.length));"
        "  document.body.setAttribute('data-check', String(document.fonts.check("
        "'16px \"Optlab CJK\"', SAMPLE)));"
        "}, function (err) { document.body.setAttribute('data-error', String(err)); });"
    )
    html = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<link rel="stylesheet" href="/_static/optlab.css"></head>'
        f'<body><p style="font-family: var(--pst-font-family-base)">{sample}</p>'
        f"<script>var SAMPLE = {json.dumps(sample)};{script}</script></body></html>"
    )
    return html.encode("utf-8")


@pytest.fixture(scope="module")
def server():
    """在 127.0.0.1 的随机端口上提供 _build/html（另加一个字体探针页）。"""
    samples: dict[str, str] = {}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path == PROBE_PATH:
                body = probe_page(samples.get("text", "中文"))
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    handler = functools.partial(Handler, directory=str(HTML_DIR))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", samples
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    binary = require_chromium()

    def dump_dom(url: str) -> str:
        with tempfile.TemporaryDirectory() as profile:
            result = subprocess.run(
                [
                    binary,
                    *HEADLESS_FLAGS,  # 除本机服务器外的请求都发往不存在的代理：页面若依赖网络就会出错
                    f"--user-data-dir={profile}",
                    "--virtual-time-budget=10000",
                    "--dump-dom",
                    url,
                ],
                capture_output=True,
                check=False,
                text=True,
                timeout=120,
            )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    return dump_dom


@pytest.fixture(scope="module")
def rendered(server, browser):
    """每个目录页面渲染后的 DOM（只渲染一次，各测试共用）。"""
    base, _ = server
    pages = toc_pages()
    for page in pages:
        assert (HTML_DIR / page).exists(), f"目录里的页面没有生成：{page}"
    # 每个 Chromium 进程大部分时间在等虚拟时钟，并行几个即可
    with ThreadPoolExecutor(max_workers=4) as pool:
        doms = pool.map(lambda page: browser(f"{base}/{page}"), pages)
    return dict(zip(pages, doms))


@needs_book
def test_every_toc_page_is_built():
    pages = toc_pages()
    assert "book/intro.html" in pages
    missing = [page for page in pages if not (HTML_DIR / page).exists()]
    assert missing == []


@needs_book
def test_built_html_loads_nothing_from_network():
    offenders = []
    for page in sorted(HTML_DIR.rglob("*.html")):
        for resource in parse(page.read_text(encoding="utf-8")).resources:
            if resource.startswith(("http:", "https:", "//")):
                offenders.append(f"{page.relative_to(HTML_DIR)}: {resource}")
    assert offenders == []


@needs_book
def test_mathjax_is_local():
    intro = (HTML_DIR / "book" / "intro.html").read_text(encoding="utf-8")
    sources = [src for src in parse(intro).resources if "mathjax" in src.lower()]
    assert sources, "页面没有加载 MathJax"
    for src in sources:
        local = (HTML_DIR / "book" / src.split("?")[0]).resolve()
        assert local.is_file(), f"MathJax 文件不存在：{local}"


@needs_book
def test_math_is_typeset_in_browser(rendered):
    math_pages = [
        page
        for page in rendered
        if 'class="math' in (HTML_DIR / page).read_text(encoding="utf-8")
    ]
    assert "book/intro.html" in math_pages, "前言应当含有公式"
    for page in math_pages:
        dom = rendered[page]
        assert "<mjx-container" in dom, f"{page}: MathJax 没有排版公式"
        text = parse(dom).text
        for raw in ("$$", "\\(", "\\[", "\\begin{"):
            assert raw not in text, f"{page}: 页面文字里残留未排版的 TeX {raw!r}"


@needs_book
def test_rendered_pages_request_nothing_remote(rendered):
    for page, dom in rendered.items():
        remote = [
            res for res in parse(dom).resources if res.startswith(("http:", "https:", "//"))
        ]
        assert remote == [], f"{page}: 运行时加入了网络资源 {remote}"


@needs_book
def test_font_subset_covers_every_chinese_character(rendered):
    font_path, ranges = font_face()
    assert font_path.is_file(), f"字体子集不存在：{font_path}"
    cmap = TTFont(font_path).getBestCmap()
    for page, dom in rendered.items():
        needed = chars_needing_font(parse(dom).text, ranges)
        assert needed, f"{page}: 页面上没有中文？"
        missing = sorted(ch for ch in needed if ord(ch) not in cmap)
        assert missing == [], f"{page}: 字体子集缺少 {''.join(missing)}"


@needs_book
def test_css_puts_chinese_font_in_body_and_headings():
    css = (HTML_DIR / "_static" / "optlab.css").read_text(encoding="utf-8")
    base = re.search(r"--pst-font-family-base:([^;]+);", css)
    assert base and "var(--optlab-font-cjk)" in base.group(1)
    assert re.search(r'--optlab-font-cjk-faces:\s*"Optlab CJK"', css)
    assert re.search(r"--optlab-font-cjk:\s*var\(--optlab-font-cjk-faces\)", css)
    # 代码、输出与行内代码的等宽字体栈也要有中文字体
    mono = re.search(r"--pst-font-family-monospace:([^;]+);", css)
    assert mono and "var(--optlab-font-cjk-faces)" in mono.group(1)
    assert "--pst-font-family-heading: var(--pst-font-family-base)" in css
    intro = (HTML_DIR / "book" / "intro.html").read_text(encoding="utf-8")
    assert any("optlab.css" in res for res in parse(intro).resources), "页面没有引用 optlab.css"


@needs_book
def test_pages_relayout_once_the_chinese_font_is_ready(rendered):
    # 字体到达前就排好版的元素（侧栏标题、搜索按钮）不会自动重排，会一直显示方框；
    # optlab-fonts.js 在 document.fonts.ready 之后强制重排并给 <html> 加上标记类
    for page, dom in rendered.items():
        html_tag = re.search(r"<html[^>]*>", dom)
        assert html_tag and "optlab-fonts-ready" in html_tag.group(0), (
            f"{page}: 中文字体就绪后没有重新排版（optlab-fonts.js 没有运行）"
        )


@needs_book
def test_browser_really_loads_chinese_font(server, browser, rendered):
    base, samples = server
    _, ranges = font_face()
    samples["text"] = "".join(
        sorted(chars_needing_font(parse(rendered["book/intro.html"]).text, ranges))
    )
    dom = browser(f"{base}{PROBE_PATH}")
    loaded = re.search(r'data-loaded="(\d+)"', dom)
    assert loaded and int(loaded.group(1)) >= 1, f"浏览器没有加载到中文字体：{dom[-500:]}"
    assert 'data-check="true"' in dom


def test_notebooks_store_no_widget_state():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "notebooks/ 里没有笔记本"
    for path in notebooks:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        assert "widgets" not in metadata, f"{path.name} 保存了 ipywidgets 状态，网页会去 CDN 取控件脚本"


def test_subset_generator_sees_escaped_and_entity_characters(tmp_path):
    # 笔记本 JSON 里的 \uXXXX、HTML 里的字符实体、代码与输出里的中文都要进字体子集
    import sys

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import optlab_assets

    notebook = tmp_path / "a.ipynb"
    notebook.write_text('{"source": ["# \\u5b66\\u4e60\\u7387"], "text": "&#x52a8;&#37327;"}', encoding="utf-8")
    page = tmp_path / "b.html"
    page.write_text('<pre><span class="c1"># 权重衰减</span></pre>', encoding="utf-8")
    chars = optlab_assets.collect_chars([notebook, page])
    assert set("学习率动量权重衰减") <= chars
