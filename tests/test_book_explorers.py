"""探索器的网页版：没有内核、没有网络时，每个控件都能改变画面；没有空的控件块；数据来自 optlab。

前半部分直接检查 ``optlab.lab.viz.web`` 生成的数据与 HTML（不需要浏览器）；
后半部分在无头 Chromium 里打开网页书，逐个拨动每个探索器的每个控件。
"""

from __future__ import annotations

import base64
import json
import re
import zlib

import numpy as np
import pytest
from book_browser import visit_pages
from test_book import HTML_DIR, ROOT, needs_book, server  # noqa: F401  (server 是夹具)
from test_book_pages import built_pages

SIZE_BUDGET = 300 * 1024
EXPLORER_CALL = re.compile(r"\b(optimizer_explorer|scheduler_explorer)\(")


# ---------------- 数据与 HTML（不需要浏览器） ----------------


def _unpack(data: dict) -> tuple[np.ndarray, np.ndarray, callable]:
    raw = np.frombuffer(zlib.decompress(base64.b64decode(data["series"])), dtype="<i2").astype(np.int64)
    pos = 0

    def take(n):
        nonlocal pos
        out = np.cumsum(raw[pos : pos + n])
        pos += n
        return out

    count = data["count"]
    return take(count), take(count), take


@pytest.fixture(scope="module")
def small_optimizer_data():
    from optlab.lab.viz.web import optimizer_explorer_data

    return optimizer_explorer_data("quadratic", ("SGD", "动量", "Adam"), steps=40, landscapes=("quadratic", "beale"))


def test_trajectories_are_optlab_runs(small_optimizer_data):
    """网页版里默认设置下的轨迹，解码后就是 run_presets 的轨迹（差别只在量化）。"""
    from optlab.lab.trajectory import run_presets
    from optlab.lab.viz.web import LR_SCALES

    data = small_optimizer_data
    lengths, diverged, take = _unpack(data)
    series = [(take(n), take(n), take(n)) for n in lengths]
    land = data["landscapes"][0]
    nl, ns = len(LR_SCALES), len(land["starts"])
    for preset in data["presets"]:
        vi = 0
        for i, (m, b1, b2) in enumerate(preset["variants"]):
            if m in (None, data["defaults"]["momentum"]) and b1 in (None, 0.9) and b2 in (None, 0.999):
                vi = i
                break
        for scale_index in (LR_SCALES.index(1.0), LR_SCALES.index(3.0)):
            tid = land["offsets"][preset["label"]] + (vi * nl + scale_index) * ns
            (ref,) = run_presets("quadratic", [preset["label"]], steps=40, lr_scale=LR_SCALES[scale_index])
            path = ref.path.numpy()
            assert lengths[tid] == len(path)
            assert diverged[tid] == (-1 if ref.diverged_at is None else ref.diverged_at)
            x0, x1 = land["xlim"]
            x = (x0 + x1) / 2 + series[tid][0] / data["coordUnits"] * (x1 - x0)
            inside = np.abs(path[:, 0]) < 7 * (x1 - x0)
            assert np.allclose(x[inside], path[inside, 0], atol=(x1 - x0) / data["coordUnits"])
            loss = 10 ** (series[tid][2] / data["lossUnits"])
            ok = ref.losses.numpy() > 1e-25
            assert np.allclose(np.log10(loss[ok]), np.log10(ref.losses.numpy()[ok]), atol=0.5 / data["lossUnits"] + 1e-3)


def test_schedules_are_optlab_runs():
    from optlab.lab.viz.curves import schedule_values
    from optlab.lab.viz.web import scheduler_explorer_data
    from optlab.lab.viz.widgets import SCHEDULERS, scheduler_module

    data = scheduler_explorer_data("StepLR", steps=200, lr=0.1)
    lengths, has_momentum, take = _unpack(data)
    curves = []
    for n, mom in zip(lengths, has_momentum):
        curves.append((take(n), take(n) if mom else None))
    entry = next(s for s in data["schedulers"] if s["name"] == "OneCycleLR")
    a, b = entry["params"]
    ai, bi, si = a["values"].index(a["default"]), b["values"].index(b["default"]), entry["steps"].index(200)
    tid = entry["offset"] + (si * len(a["values"]) + ai) * len(b["values"]) + bi
    build = SCHEDULERS["OneCycleLR"][2]
    ref = schedule_values(lambda opt: build(scheduler_module(), opt, a["default"], b["default"], 200, 0.1), 200, lr=0.1)
    assert np.allclose(curves[tid][0] / data["lrUnits"] * 0.1, ref["lr"], atol=0.1 / data["lrUnits"])
    assert curves[tid][1] is not None and np.allclose(curves[tid][1] / data["lrUnits"], ref["momentum"], atol=1e-4)


def test_html_is_deterministic_and_self_contained():
    from optlab.lab.viz.web import optimizer_explorer_html

    first = optimizer_explorer_html("quadratic", ("SGD", "Adam"), steps=20, landscapes=("quadratic",))
    second = optimizer_explorer_html("quadratic", ("SGD", "Adam"), steps=20, landscapes=("quadratic",))
    assert first == second
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", first), "查看器不能从网络加载任何东西"
    assert "import(" not in first and "fetch(" not in first


def test_explorer_gives_widget_view_and_html():
    from optlab.lab.viz.widgets import optimizer_explorer, scheduler_explorer

    for explorer in (optimizer_explorer("quadratic", names=("SGD",), steps=20), scheduler_explorer("StepLR")):
        explorer._make_web_html = lambda: "<div class='optlab-explorer'></div>"  # 这里只看 MIME 包的结构
        bundle = explorer._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert bundle["text/html"].startswith("<div class='optlab-explorer'")
        assert "\n" not in bundle["text/plain"] and "model_id" not in bundle["text/plain"]


def test_config_prefers_html_over_widget_view_on_the_web():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    overrides = config["sphinx"]["config"]["nb_mime_priority_overrides"]
    assert ["html", "text/html", 5] in overrides  # 控件视图的默认优先级是 10，数字小者优先


# ---------------- 网页书里（浏览器） ----------------


def explorer_pages() -> dict[str, int]:
    """源笔记本里有探索器单元格的页面 → 探索器个数。"""
    found = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        count = sum(
            1 for c in cells if c["cell_type"] == "code" and EXPLORER_CALL.search("".join(c["source"]))
        )  # fmt: skip
        if count:
            found[f"notebooks/{path.stem}.html"] = count
    return found


WAIT_READY = """
new Promise((resolve) => {
  const t0 = performance.now();
  (function poll() {
    const all = [...document.querySelectorAll(".optlab-explorer")];
    const done = all.every((e) => ["true", "error"].includes(e.getAttribute("data-ready")));
    if (done || performance.now() - t0 > 20000) {
      resolve(all.map((e) => ({id: e.id, ready: e.getAttribute("data-ready"), text: e.innerText.slice(0, 200)})));
    } else setTimeout(poll, 50);
  })();
})
"""

# 从初始状态出发逐个拨动控件：滑块拨到另一端（已在一端则拨到另一端），下拉框换一个选项，复选框取反；
# 比较拨动前后所有 canvas 的像素，然后把控件拨回原值，下一个控件仍从初始状态开始
EXERCISE = """
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const picture = (root) => [...root.querySelectorAll("canvas")].map((c) => c.toDataURL()).join("|");
  const renders = (root) => +root.getAttribute("data-render-count");
  const set = async (root, control, value) => {
    const before = renders(root);
    if (control.type === "checkbox") control.checked = value; else control.value = value;
    control.dispatchEvent(new Event(control.type === "range" ? "input" : "change", {bubbles: true}));
    const t0 = performance.now();
    while (renders(root) <= before && performance.now() - t0 < 5000) await sleep(20);
  };
  const report = [];
  for (const root of document.querySelectorAll(".optlab-explorer")) {
    const controls = [...root.querySelectorAll("[data-control]")].filter((c) => c.offsetParent !== null);
    for (const control of controls) {
      const original = control.type === "checkbox" ? control.checked : control.value;
      let other;
      if (control.type === "range") other = String(+control.value === +control.max ? 0 : control.max);
      else if (control.type === "checkbox") other = !control.checked;
      else {
        const options = [...control.options].map((o) => o.value);
        other = options[(options.indexOf(control.value) + 1) % options.length];
      }
      const before = picture(root);
      await set(root, control, other);
      report.push({explorer: root.id, control: control.getAttribute("data-control"), changed: picture(root) !== before});
      await set(root, control, original);
    }
  }
  return report;
})()
"""

EMPTY_OUTPUTS = """
(() => {
  const widgetViews = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const empty = [...document.querySelectorAll(".cell_output .output")].filter((o) =>
    !o.innerText.trim() && !o.querySelector("img, canvas, svg, video, iframe, table")).map((o) => o.className);
  return {widgetViews, empty};
})()
"""


@pytest.fixture(scope="module")
def web_explorers(server):  # noqa: F811  (夹具参数与导入同名)
    base, _ = server

    def probe(page):
        entry = {"explorers": page.eval(WAIT_READY), "outputs": page.eval(EMPTY_OUTPUTS)}
        if entry["explorers"]:
            entry["controls"] = page.eval(EXERCISE, timeout=300)
        entry["requests"] = page.requested_urls()
        return entry

    return base, visit_pages(base, built_pages(), probe)


@needs_book
def test_every_explorer_cell_has_a_working_web_explorer(web_explorers):
    _, results = web_explorers
    expected = explorer_pages()
    assert len(expected) >= 5, f"笔记本里只找到 {len(expected)} 个含探索器的页面？"
    problems = []
    for name, count in expected.items():
        explorers = results.get(name, {}).get("explorers", [])
        if len(explorers) != count:
            problems.append(f"{name}: 应有 {count} 个网页版探索器，页面上有 {len(explorers)} 个（笔记本需要重新执行？）")
        problems += [f"{name}: {e['id']} 没有就绪（{e['ready']}）：{e['text']}" for e in explorers if e["ready"] != "true"]
    assert problems == []


@needs_book
def test_every_control_changes_the_picture(web_explorers):
    _, results = web_explorers
    checked = [(name, c) for name, r in results.items() for c in r.get("controls", [])]
    assert len(checked) >= 20, f"只拨动了 {len(checked)} 个控件？"
    dead = [f"{name}: {c['explorer']} 的 {c['control']}" for name, c in checked if not c["changed"]]
    assert dead == [], "拨动后画面没有变化：\n" + "\n".join(dead)


@needs_book
def test_no_empty_widget_block(web_explorers):
    _, results = web_explorers
    problems = []
    for name, r in results.items():
        if r["outputs"]["widgetViews"]:
            problems.append(f"{name}: 页面里有 {r['outputs']['widgetViews']} 个 ipywidgets 视图（网页上是空块）")
        problems += [f"{name}: 空的输出块 {cls}" for cls in r["outputs"]["empty"]]
    assert problems == []


@needs_book
def test_nothing_is_loaded_from_the_network(web_explorers):
    base, results = web_explorers
    remote = [
        f"{name}: {url}" for name, r in results.items() for url in r["requests"]
        if not url.startswith((base, "data:", "blob:", "about:"))
    ]  # fmt: skip
    assert remote == []


@needs_book
def test_explorer_html_fits_the_size_budget():
    sizes = {}
    for name in explorer_pages():
        source = (HTML_DIR / name).read_text(encoding="utf-8")
        for match in re.finditer(r'<div class="optlab-explorer" id="([\w-]+)"', source):
            end_marker = f"window.optlabExplorer(document.getElementById(\"{match.group(1)}\"));</script>"
            end = source.find(end_marker, match.start())
            assert end > 0, f"{name}: {match.group(1)} 的查看器脚本不完整"
            sizes[f"{name} {match.group(1)}"] = len(source[match.start() : end + len(end_marker)].encode("utf-8"))
    over = {k: f"{v / 1024:.0f} KB" for k, v in sizes.items() if v > SIZE_BUDGET}
    assert over == {}, f"探索器超出每页 {SIZE_BUDGET // 1024} KB 的预算：{over}"
