"""测试用的无头 Chromium：通过 DevTools 协议（websocket-client）打开页面、执行脚本、截图、记录网络请求。

只有浏览器测试（tests/test_book*.py）用它。Chromium 离线运行：除 127.0.0.1 外的一切请求都发往
一个不存在的代理，并被记录下来，测试据此断言页面不访问网络。
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]


# 所有浏览器测试共用的启动参数：无头、不联网（除本机服务器外的请求都发往不存在的代理）
HEADLESS_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
]


def find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """Chromium 的路径；没有就跳过（make test 会在 Debian 上自动安装）。"""
    binary = find_chromium()
    if binary is None:
        pytest.skip("没有 chromium 可执行文件：Debian 上 apt-get install chromium（make test 会自动安装）")
    return binary


class BrowserError(RuntimeError):
    pass


class Page:
    """一个标签页的 DevTools 会话。"""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=120, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")
        # 视口高一些，侧栏的全部条目都在截图里
        self.send("Emulation.setDeviceMetricsOverride", width=1280, height=1600,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip

    def send(self, method: str, **params):
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == my_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def _wait_event(self, name: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event["method"] == name:
                return self.events.pop(i)
        while time.monotonic() < deadline:
            self.ws.settimeout(max(deadline - time.monotonic(), 0.01))
            message = json.loads(self.ws.recv())
            self.ws.settimeout(120)
            if "method" in message:
                if message["method"] == name:
                    return message
                self.events.append(message)
        raise BrowserError(f"等待 {name} 超时")

    def goto(self, url: str, timeout: float = 60) -> None:
        """打开页面并等到 load 事件与 document.fonts.ready。"""
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        self.send("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired", timeout)
        self.eval("document.fonts.ready.then(() => true)")

    def eval(self, expression: str, timeout: float = 120):
        """执行 JS 表达式（可以返回 Promise），返回它的 JSON 值。"""
        self.ws.settimeout(timeout)
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True, timeout=int(timeout * 1000))  # fmt: skip
        self.ws.settimeout(120)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"页面脚本出错：{text}")
        return result["result"].get("value")

    def screenshot(self, clip: dict | None = None) -> bytes:
        params = {"format": "png", "captureBeyondViewport": False}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        return base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]  # fmt: skip

    def close(self) -> None:
        self.ws.close()


class Browser:
    """一个无头 Chromium 进程；``new_page()`` 开新标签页。"""

    def __init__(self, binary: str):
        # Chromium 的子进程（渲染、崩溃报告）可能在主进程退出后还写一会儿配置目录：清理时不因此报错
        self.profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        self.proc = subprocess.Popen(
            [
                binary,
                *HEADLESS_FLAGS,
                "--hide-scrollbars",
                "--font-render-hinting=none",
                f"--user-data-dir={self.profile.name}",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # 自成进程组：关闭时连同子进程一起结束
        )
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise BrowserError("Chromium 没有启动 DevTools 端口")
            time.sleep(0.05)
        self.port = int(port_file.read_text().splitlines()[0])

    def new_page(self) -> Page:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            target = json.loads(response.read())
        return Page(target["webSocketDebuggerUrl"])

    def close(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)  # 整个进程组：主进程和它的子进程
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
        self.profile.cleanup()


def visit_pages(base: str, names, probe) -> dict:
    """用同一个 Chromium 逐页打开 ``base/name``，对每页调用 ``probe(page)``，返回 {页名: 结果}。"""
    browser = Browser(require_chromium())
    results = {}
    try:
        for name in names:
            page = browser.new_page()
            try:
                page.goto(f"{base}/{name}")
                results[name] = probe(page)
            finally:
                page.close()
    finally:
        browser.close()
    return results
