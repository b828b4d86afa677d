"""optlab.lab.digits：数据切分、可复现的训练与按验证集挑选学习率。"""

import math

import torch

from optlab.lab import digits


def test_split_is_disjoint_standardised_and_deterministic():
    a = digits.load_digits_data(seed=0)
    b = digits.load_digits_data(seed=0)
    assert sum(a.sizes()) == 1797
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert abs(float(a.x_train.mean())) < 1e-6
    other = digits.load_digits_data(seed=1)
    assert not torch.equal(a.y_test, other.y_test)


def test_training_is_reproducible_and_learns():
    data = digits.load_digits_data(seed=0)
    adam = digits.Candidate("Adam", "Adam", {}, (1e-2,))
    first = digits.train(adam, data, 1e-2, epochs=3)
    second = digits.train(adam, data, 1e-2, epochs=3)
    assert first.train_loss == second.train_loss
    assert first.train_loss[-1] < first.train_loss[0]
    assert first.final_test > 0.8


def test_divergence_is_recorded_and_never_selected():
    data = digits.load_digits_data(seed=0)
    sgd = digits.Candidate("SGD", "SGD", {}, (0.1, 1e4))
    (result,) = digits.sweep([sgd], data, epochs=2)
    huge = next(h for h in result.runs if h.lr == 1e4)
    assert huge.diverged_at is not None and huge.final_val == 0.0
    assert result.best.lr == 0.1
    assert math.isfinite(result.best.train_loss[-1])


def test_muon_candidate_splits_matrices_from_biases():
    model = digits.make_model()
    muon = next(c for c in digits.CANDIDATES if c.optimizer == "Muon")
    resolve = lambda name: getattr(torch.optim, name)
    opts = muon.build(model, 0.02, resolver=resolve)
    assert [type(o).__name__ for o in opts] == ["Muon", "AdamW"]
    assert all(p.ndim == 2 for g in opts[0].param_groups for p in g["params"])
    assert all(p.ndim == 1 for g in opts[1].param_groups for p in g["params"])
