"""optlab.lab.viz.signature：签名表的行来自真实签名，含义表不全或多余时报错。"""

import inspect

import pytest

import optlab
from optlab.lab.viz.signature import signature_rows, signature_table


def _meanings(cls):
    return {name: f"含义 {name}" for name in inspect.signature(cls).parameters if name != "self"}


def test_rows_follow_signature_defaults():
    rows = signature_rows(optlab.SGD, _meanings(optlab.SGD))
    sig = inspect.signature(optlab.SGD).parameters
    assert [r[0].split("`")[1] for r in rows] == list(sig)
    by_name = {r[0].split("`")[1]: r for r in rows}
    assert by_name["params"][1] == "（必填）"
    assert by_name["lr"][1] == f"`{sig['lr'].default!r}`"
    assert "仅关键字" in by_name["maximize"][0]
    assert "仅关键字" not in by_name["nesterov"][0]


def test_missing_or_extra_meanings_raise():
    meanings = _meanings(optlab.SGD)
    del meanings["dampening"]
    with pytest.raises(ValueError, match="dampening"):
        signature_rows(optlab.SGD, meanings)
    with pytest.raises(ValueError, match="bogus"):
        signature_rows(optlab.SGD, {**_meanings(optlab.SGD), "bogus": "?"})


def test_table_markdown_escapes_pipes():
    meanings = {**_meanings(optlab.SGD), "lr": "a | b"}
    text = signature_table(optlab.SGD, meanings).data
    assert "| 参数 | 默认值 | 含义 |" in text
    assert "a \\| b" in text
    assert text.count("\n| `") == len(meanings)
