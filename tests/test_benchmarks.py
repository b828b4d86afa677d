"""基准脚本能跑通（不计时、不比较快慢：速度只在基准脚本里测）。"""

from __future__ import annotations

from benchmarks import step_time


def test_step_time_runs_and_reports_a_geomean(capsys):
    code = step_time.main(
        ["--only", "SGD", "Adam", "--sets", "small400", "--repeat", "1", "--window", "1"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "出错" not in out
    assert out.count("small400") == 6  # SGD、Adam 各三种实现：for-loop、foreach、fused
    assert "几何平均" in out
