"""Sphinx 扩展：页面里重复的 <script> 只保留第一个。

sphinx-thebe 在 Sphinx 7.4 下把它的配置脚本（``const THEBE_JS_URL = …``）加进页面两次，
浏览器执行第二次时报 “Identifier 'THEBE_JS_URL' has already been declared”。
"""

from __future__ import annotations


def _key(script) -> tuple:
    # 同一段脚本可能以不同的 priority 被加两次：比较时不看 priority
    filename = getattr(script, "filename", script) or ""  # 同一段内联脚本的 filename 可能是 None 或 ""
    attrs = tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items()))
    return (str(filename), attrs)


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    # 优先级放低：其他扩展往 script_files 里加完之后再去重
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
