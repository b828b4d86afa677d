"""练习的自检：学生作答前说“尚未作答”，作答后检查并给出提示。

笔记本里一道练习由四个单元格组成（标签写在单元格的 metadata.tags 里）：

1. 题目（Markdown）；
2. ``exercise-stub``：学生作答的代码单元格，答案变量先写成 ``...``，例如
   ``answer_1 = ...  # 在这里作答``；
3. ``exercise-check``：检查单元格，用 :func:`check_answer` 包住一个只写断言的函数；
4. ``exercise-solution``：Markdown 单元格，把参考答案放进折叠的 ``<details>``
   （网页与 JupyterLab 里都默认收起），答案写在其中唯一的 ``python`` 代码块里。

测试（``tests/test_exercises.py``）把参考答案代入作答单元格，重新执行整个笔记本，
要求每个检查单元格都打印“✓ 正确”；原样执行时则都打印“尚未作答”。
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CORRECT", "NOT_ANSWERED", "check_answer"]

NOT_ANSWERED = "尚未作答：把上面单元格里的 ... 换成你的答案，再运行本单元格。"
CORRECT = "✓ 正确"


def _is_stub(answer: Any) -> bool:
    return answer is Ellipsis


def check_answer(*answers: Any) -> Callable[[Callable[[], None]], bool]:
    """装饰一个写满断言的检查函数，并立刻运行它。

    任何一个答案仍是 ``...`` 时只提示“尚未作答”；断言失败时打印断言里写的提示，不抛异常
    （学生看到的是提示，而不是一长串回溯）；全部通过时打印“✓ 正确”。
    被装饰的名字绑定为 True/False，表示是否答对。
    """

    def run(check: Callable[[], None]) -> bool:
        if any(_is_stub(a) for a in answers):
            print(NOT_ANSWERED)
            return False
        try:
            check()
        except AssertionError as failure:
            message = str(failure) or "结果与预期不符，再检查一下。"
            print(f"✗ 还不对。{message}")
            return False
        print(CORRECT)
        return True

    return run
