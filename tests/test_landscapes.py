"""地形：函数值、解析梯度与 autograd 一致、极小值/鞍点位置、未知名字报错。"""

import pytest
import torch

from optlab.lab.landscapes import LANDSCAPES, get_landscape, landscape_names

NAMES = landscape_names()


def autograd_grad(land, xy):
    xy = xy.clone().requires_grad_(True)
    land(xy).sum().backward()
    return xy.grad


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_autograd(name):
    land = get_landscape(name)
    gen = torch.Generator().manual_seed(0)
    lo = torch.tensor([land.xlim[0], land.ylim[0]], dtype=torch.float64)
    hi = torch.tensor([land.xlim[1], land.ylim[1]], dtype=torch.float64)
    xy = lo + (hi - lo) * torch.rand(50, 2, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(land.grad(xy), autograd_grad(land, xy))
    # 少量点走浮点数快速路径，结果也要一致
    torch.testing.assert_close(land.grad(xy[:3]), autograd_grad(land, xy[:3]))


@pytest.mark.parametrize("name", NAMES)
def test_grid_and_batch_shapes(name):
    land = get_landscape(name)
    X, Y, Z = land.grid(7)
    assert X.shape == Y.shape == Z.shape == (7, 7)
    pts = torch.stack((X, Y), dim=-1)
    torch.testing.assert_close(land(pts), Z)
    assert land.contains(land.start)
    levels = land.contour_levels(Z, 10)
    assert len(levels) == 10 and levels == sorted(levels)


def test_known_values():
    assert float(get_landscape("rosenbrock")(torch.tensor([0.0, 0.0]))) == 1.0
    assert float(get_landscape("quadratic")(torch.tensor([1.0, 1.0]))) == pytest.approx(2.1)
    assert float(get_landscape("saddle")(torch.tensor([1.0, 2.0]))) == -3.0
    assert float(get_landscape("monkey_saddle")(torch.tensor([1.0, 1.0]))) == -2.0
    assert float(get_landscape("himmelblau")(torch.tensor([0.0, 0.0]))) == 170.0


@pytest.mark.parametrize("name", [n for n in NAMES if LANDSCAPES[n].minima])
def test_minima_are_minimal(name):
    land = get_landscape(name)
    for point in land.minima:
        p = torch.tensor(point, dtype=torch.float64)
        assert land.grad(p).abs().max() < 1e-4
        offsets = torch.tensor([[dx, dy] for dx in (-1e-2, 0, 1e-2) for dy in (-1e-2, 0, 1e-2)],
                               dtype=torch.float64)  # fmt: skip
        assert float(land(p)) <= float(land(p + offsets).min()) + 1e-12


@pytest.mark.parametrize("name", [n for n in NAMES if LANDSCAPES[n].saddles])
def test_saddles_are_stationary_but_not_minima(name):
    land = get_landscape(name)
    for point in land.saddles:
        p = torch.tensor(point, dtype=torch.float64)
        assert land.grad(p).abs().max() < 1e-9
        ring = 0.05 * torch.tensor([[dx, dy] for dx in (-1, 0, 1) for dy in (-1, 0, 1)],
                                   dtype=torch.float64)  # fmt: skip
        assert float(land(p + ring).min()) < float(land(p))


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="rosenbrock"):
        get_landscape("no-such-function")
    assert get_landscape(LANDSCAPES["beale"]) is LANDSCAPES["beale"]
