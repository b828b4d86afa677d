"""lab.tables.Table：纯文本按显示宽度对齐，网页与 JupyterLab 里是真正的表格。"""

from optlab.lab.tables import Table, display_width


def test_plain_text_aligns_chinese_by_display_width():
    table = Table(
        ["做法", "损失"],
        [["常数学习率", 0.5], ["余弦退火（T_max=30）", 0.25]],
        formats={"损失": ".2f"},
    )
    lines = repr(table).splitlines()
    assert len({display_width(line) for line in lines}) == 1, lines
    assert lines[2].endswith("0.50") and lines[3].endswith("0.25")


def test_html_is_a_real_table_with_escaped_cells():
    html = Table(["名字", "值"], [["a<b", 1], ["c|d", 2]])._repr_html_()
    assert html.startswith('<table class="optlab-table">') and html.endswith("</table>")
    assert html.count("<tr>") == 3 and "a&lt;b" in html and "c|d" in html
    assert 'style="text-align: right">1<' in html


def test_markdown_marks_numeric_columns_right_aligned():
    md = Table(["名字", "值"], [["x", 1.5]])._repr_markdown_()
    assert md.splitlines()[1] == "| --- | ---: |"
