"""show_source：书里展示的源码直接取自库本身，出处要写成仓库内的相对路径。"""

import re
from pathlib import Path

import optlab
from optlab.lab.viz.source import show_source, source_of
from optlab.swa_utils import update_bn


def test_header_names_the_optlab_file_and_line():
    text = show_source(optlab.SGD.update).data
    match = re.search(r"# 来自 (\S+)（第 (\d+) 行起）", text)
    assert match and match.group(1) == "optlab/sgd.py"
    lines = Path(optlab.sgd.__file__).read_text(encoding="utf-8").splitlines()
    assert lines[int(match.group(2)) - 1].strip().startswith("def update(")


def test_decorated_function_points_at_its_own_file():
    # update_bn 带 @torch.no_grad()：出处必须是 optlab/swa_utils.py，而不是装饰器所在的 torch 文件
    text = show_source(update_bn).data
    assert "# 来自 optlab/swa_utils.py" in text
    assert "def update_bn(" in text


def test_source_of_cuts_between_markers():
    text = source_of(optlab.Adam.update, start="for param", end="m, v = adam_moments_")
    assert text.splitlines()[0].lstrip().startswith("for param")
    assert text.splitlines()[-1].strip().startswith("m, v = adam_moments_")
