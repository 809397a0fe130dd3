"""The degradation study: the effect it exists to show, its protocol, its training step."""

from __future__ import annotations

import numpy as np
import pytest

from learnres.analysis.degradation import (
    STUDY,
    degradation_study,
    summarize,
    teacher_data,
    train_curve,
    train_step,
)
from learnres.models.cifar import mlp
from learnres.nn import init
from learnres.optim.sgd import SGD


@pytest.fixture(scope="module")
def study():
    return degradation_study()


def test_the_deeper_plain_net_trains_worse_and_the_residual_net_does_not(study):
    result = summarize(study)
    final = result["final"]
    assert list(study) == ["plain-4", "plain-20", "residual-4", "residual-20"]
    assert all(curve.shape == (STUDY["steps"],) for curve in study.values())
    assert result["plain_degrades"] and result["residual_fixes"]
    # the effect is large, not a coin flip: the deep plain net ends at least 5 times higher
    assert final["plain-20"] > 5 * final["plain-4"]
    assert result["residual_gap"] < result["plain_gap"] / 3


def test_a_run_repeats_number_for_number():
    a = degradation_study(depths=(2, 4), width=8, steps=12, examples=64, seed=3)
    b = degradation_study(depths=(2, 4), width=8, steps=12, examples=64, seed=3)
    c = degradation_study(depths=(2, 4), width=8, steps=12, examples=64, seed=4)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert not np.array_equal(a[name], c[name])


def test_teacher_data_uses_every_class():
    x, labels = teacher_data(seed=1)
    assert x.shape == (512, 32) and x.dtype == np.float32 and labels.dtype == np.int64
    assert np.bincount(labels, minlength=4).min() > 50


def test_train_step_is_zero_grad_backward_step_in_train_mode():
    init.manual_seed(0)
    model = mlp(4, 8, False, in_features=6, num_classes=3).eval()
    x = np.random.default_rng(0).standard_normal((16, 6)).astype(np.float32)
    labels = np.arange(16) % 3
    optimizer = SGD(model.parameters(), lr=0.1)
    for p in model.parameters():  # stale gradients must not leak into the step
        p.grad = np.full(p.shape, 100.0, dtype=p.dtype)
    before = [p.data.copy() for p in model.parameters()]
    loss, wrong = train_step(model, optimizer, x, labels)
    assert model.training
    assert 0 <= wrong <= 16 and np.isfinite(loss)
    moved = max(float(np.abs(p.data - b).max()) for p, b in zip(model.parameters(), before))
    assert 0 < moved < 1  # a step of lr * (a fresh gradient), not of lr * 100


def test_train_curve_falls_on_learnable_data():
    x, labels = teacher_data(examples=128, seed=2)
    init.manual_seed(2)
    curve = train_curve(mlp(4, 16, False, 32, 4), x, labels, 60, 32, 0.05, seed=2)
    assert curve.shape == (60,) and np.mean(curve[-10:]) < 0.5 * np.mean(curve[:10])
