"""optlab.lab.viz.multiples：每个取值一张小图，轨迹与单独运行一致。"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

from optlab.lab.trajectory import run_trajectory
from optlab.lab.viz.multiples import plot_option_grid


def test_one_panel_per_value_and_matching_trajectories():
    fig, trajs = plot_option_grid("quadratic", "SGD", "momentum", [0.0, 0.5, 0.9], steps=20, lr=0.04)
    try:
        assert len(fig.axes) == 3
        assert [t.options["momentum"] for t in trajs] == [0.0, 0.5, 0.9]
        alone = run_trajectory("quadratic", "SGD", steps=20, lr=0.04, momentum=0.5)
        torch.testing.assert_close(trajs[1].path, alone.path)
        assert "momentum=0.5" in fig.axes[1].get_title()
    finally:
        plt.close(fig)


def test_diverged_panel_is_marked():
    fig, trajs = plot_option_grid("quadratic", "SGD", "lr", [0.1, 0.7], steps=60)
    try:
        assert not trajs[0].diverged and trajs[1].diverged
        assert "发散" in fig.axes[1].get_title() and "发散" not in fig.axes[0].get_title()
    finally:
        plt.close(fig)
