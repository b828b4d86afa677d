"""matplotlib 中文字形测试：用了 use_chinese_style() 后，中文不应出现缺字警告。"""

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from optlab.lab.viz.style import use_chinese_style

CHINESE_TEXT = "学习率调度与动量：损失随步数下降"


def missing_glyph_warnings() -> list[str]:
    """画一张含中文标题、坐标轴、图例和刻度的图并渲染，返回所有缺字警告。"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.plot([-2, -1, 0, 1], [3, 1, 0, 1], label="梯度下降轨迹")
        ax.plot([-2, -1, 0, 1], [2, 1, 1, 0], label="动量")
        ax.set_title(CHINESE_TEXT)
        ax.set_xlabel("步")
        ax.set_ylabel("损失（对数）")
        ax.set_xticks([-2, -1, 0, 1], ["第一步", "第二步", "第三步", "−1"])
        ax.legend(title="优化器")
        fig.suptitle("等高线与鞍点")
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


@pytest.fixture
def fresh_rc():
    """每个测试都从 matplotlib 默认设置开始，结束后恢复。"""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.use("Agg")
        yield


def test_detector_sees_missing_glyphs_without_style(fresh_rc):
    # 默认字体 DejaVu Sans 没有汉字：检测函数必须能捕获到缺字警告，否则下面的测试毫无意义
    found = missing_glyph_warnings()
    assert found, "默认字体下应当出现 Glyph ... missing 警告"
    assert any("Glyph" in message for message in found)


def test_chinese_style_renders_every_glyph(fresh_rc):
    use_chinese_style()
    assert missing_glyph_warnings() == []


def test_chinese_style_is_idempotent(fresh_rc):
    use_chinese_style()
    first = dict(matplotlib.rcParams)
    use_chinese_style()
    assert dict(matplotlib.rcParams) == first
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    assert matplotlib.rcParams["font.sans-serif"][0] == "Noto Sans CJK SC"
    assert missing_glyph_warnings() == []
