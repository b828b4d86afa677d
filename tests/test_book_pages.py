"""逐页检查构建好的网页书：无头 Chromium 离线打开每一个页面，看控制台报错、公式、图片与网络请求。

共用 tests/test_book.py 的工具（Chromium 查找、HTML 解析、本地服务器）；这里额外收集浏览器的控制台日志。
"""

import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import pytest
from book_browser import HEADLESS_FLAGS, require_chromium
from test_book import HTML_DIR, needs_book, parse, server  # noqa: F401  (server 是夹具)

# 控制台里出现这些字样就算页面出错（脚本异常、资源加载失败）
CONSOLE_ERRORS = ("Uncaught", "Failed to load resource")
RAW_TEX = ("$$", "\\(", "\\)", "\\[", "\\begin{", "\\frac")
SKIPPED_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static"}


def built_pages() -> list[str]:
    """_build/html 里的每一个 HTML 页面（不含静态资源目录与只做跳转的页面），相对路径。"""
    pages = []
    for path in sorted(HTML_DIR.rglob("*.html")):
        rel = path.relative_to(HTML_DIR)
        if SKIPPED_DIRS & set(rel.parts) or is_redirect(path):
            continue
        pages.append(rel.as_posix())
    return pages


def is_redirect(path) -> bool:
    # 根目录的 index.html 只有一个 meta refresh，浏览器打开后显示的是目标页（目标页本身也在检查之列）
    return 'http-equiv="refresh"' in path.read_text(encoding="utf-8")[:2000].lower()


def open_page(binary: str, url: str) -> tuple[str, str]:
    """返回 (渲染后的 DOM, 控制台日志)。除本机服务器外的请求都发往不存在的代理。"""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                binary,
                *HEADLESS_FLAGS,
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
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
    return result.stdout, result.stderr


@pytest.fixture(scope="module")
def pages(server):  # noqa: F811  (夹具参数与导入同名)
    binary = require_chromium()
    base, _ = server
    names = built_pages()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda name: open_page(binary, f"{base}/{name}"), names)
    return dict(zip(names, results))


@needs_book
def test_every_toc_page_is_among_built_pages():
    from test_book import toc_pages

    assert set(toc_pages()) <= set(built_pages())


@needs_book
def test_no_console_errors(pages):
    problems = []
    for name, (_, log) in pages.items():
        for line in log.splitlines():
            if "CONSOLE" in line and any(marker in line for marker in CONSOLE_ERRORS):
                problems.append(f"{name}: {line.strip()[:300]}")
    assert problems == []


@needs_book
def test_formulas_are_typeset(pages):
    for name, (dom, _) in pages.items():
        source = (HTML_DIR / name).read_text(encoding="utf-8")
        if 'class="math' in source:
            assert "<mjx-container" in dom, f"{name}: MathJax 没有排版公式"
        text = parse(dom).text
        leftovers = [raw for raw in RAW_TEX if raw in text]
        assert leftovers == [], f"{name}: 页面文字里残留未排版的 TeX {leftovers}"


@needs_book
def test_every_image_has_a_local_source(pages):
    missing = []
    for name, (dom, _) in pages.items():
        images = [src for tag, src in _image_sources(dom)]
        for src in images:
            if not src:
                missing.append(f"{name}: 空的 src")
                continue
            if src.startswith("data:"):
                continue
            parts = urlsplit(src)
            assert not parts.scheme.startswith("http") and not src.startswith("//"), f"{name}: 网络图片 {src}"
            target = PurePosixPath(name).parent / unquote(parts.path)
            if not (HTML_DIR / target).resolve().is_file():
                missing.append(f"{name}: {src}")
    assert missing == []


@needs_book
def test_notebook_pages_show_their_figures(pages):
    for name in ("notebooks/10-优化器比较.html", "notebooks/11-性能.html", "book/intro.html"):
        if name in pages:
            assert _image_sources(pages[name][0]), f"{name}: 页面上没有图片"


@needs_book
def test_no_network_resources_after_rendering(pages):
    for name, (dom, _) in pages.items():
        remote = [res for res in parse(dom).resources if res.startswith(("http:", "https:", "//"))]
        assert remote == [], f"{name}: 运行时加入了网络资源 {remote}"


def _image_sources(dom: str) -> list[tuple[str, str]]:
    from html.parser import HTMLParser

    found: list[tuple[str, str]] = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                found.append((tag, dict(attrs).get("src") or ""))

    parser = Images()
    parser.feed(dom)
    parser.close()
    return found
