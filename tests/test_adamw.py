"""AdamW 独有的性质（通用检查在 test_optimizers.py，由 optim_registry 生成）。"""

from __future__ import annotations

import pytest
import torch

import optlab
from optlab.testing import default_loss, make_params


@pytest.mark.parametrize("options", [{}, {"amsgrad": True, "foreach": True}], ids=str)
def test_adamw_is_adam_with_decoupled_weight_decay(options):
    """AdamW(wd) 与 Adam(wd, decoupled_weight_decay=True) 逐位相同（包括默认 wd=0.01）。"""
    runs = []
    for cls, extra in ((optlab.AdamW, {}), (optlab.Adam, {"decoupled_weight_decay": True})):
        params = make_params()
        opt = cls(params, lr=0.05, weight_decay=0.01, **options, **extra)
        for _ in range(10):
            opt.zero_grad()
            default_loss(params).backward()
            opt.step()
        runs.append(([p.detach() for p in params], opt.state_dict()["state"]))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
