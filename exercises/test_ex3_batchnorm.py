"""Grader of exercise 3 (batch normalization): forward, running statistics and backward,
in training and evaluation mode, against torch.nn.functional.batch_norm in float64.

Forward calls ``_update_running``: the forward and backward tests use learnres's own
``_update_running``, so a bug in 3.2 costs only its own test. The backward tests run your
forward first (backward reads what it saved) and check its output before the gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch  # imported at collection, so no test's timeout pays for it
import torch.nn.functional as F

from learnres.functions import batchnorm as reference
from learnres.grading.checks import check_backward, check_close, fail, rand

EXERCISE = "3. Batch normalization"
MODULE = "ex3_batchnorm"
EPS, MOMENTUM = 1e-5, 0.1


@pytest.fixture
def rng():
    return np.random.default_rng(3)


@pytest.fixture
def reference_update(exercise, monkeypatch):
    monkeypatch.setattr(exercise.BatchNorm, "_update_running", reference.BatchNorm._update_running)


def _inputs(rng, shape):
    C = shape[1]
    x = 1.5 * rand(rng, *shape) + 0.5
    gamma, beta = 1 + 0.5 * rand(rng, C), rand(rng, C)
    running_mean, running_var = rand(rng, C), 0.5 + rng.random(C)
    return x, gamma, beta, running_mean, running_var


def _torch_bn(running_mean, running_var, training):
    def f(x, gamma, beta):
        rm, rv = torch.from_numpy(running_mean.copy()), torch.from_numpy(running_var.copy())
        return F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=MOMENTUM, eps=EPS)

    return f


def _stats(x, gamma, running_mean, running_var, training):
    """(x_hat, gamma / sigma, mean over (N, H, W)) with shapes that broadcast against x."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mu, var = running_mean.reshape(shape), running_var.reshape(shape)
    sigma = np.sqrt(var + EPS)
    return (
        (x - mu) / sigma,
        gamma.reshape(shape) / sigma,
        lambda a: a.mean(axis=axes, keepdims=True),
    )


def _forward(exercise, x, gamma, beta, running_mean, running_var, training):
    f = exercise.BatchNorm(
        running_mean.copy(), running_var.copy(), training, MOMENTUM, EPS, True, True
    )
    f.needs_input_grad = (True, True, True)
    return f.forward(x.copy(), gamma.copy(), beta.copy())


# ---- 3.1 forward -------------------------------------------------------------------------------


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_forward_train(exercise, rng, reference_update):
    for shape in [(4, 3, 5, 5), (8, 3)]:
        x, gamma, beta, rm, rv = _inputs(rng, shape)
        expected = _torch_bn(rm, rv, True)(*(_t(a) for a in (x, gamma, beta))).detach().numpy()
        x_hat, _, _ = _stats(x, gamma, rm, rv, True)
        axes = (0,) + tuple(range(2, x.ndim))
        unbiased = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(
            x.var(axis=axes, ddof=1, keepdims=True) + EPS
        )
        check_close(
            f"BatchNorm.forward in training mode, x of shape {shape}: y",
            _forward(exercise, x, gamma, beta, rm, rv, True),
            expected,
            hint="normalise each channel with the batch's mean and biased variance over (N, H, W)",
            diagnoses=[
                ("x_hat: gamma and beta are not applied (y = gamma * x_hat + beta)", x_hat),
                (
                    "x normalised with the running statistics: training mode uses the batch's",
                    _stats(x, gamma, rm, rv, False)[0]
                    * gamma.reshape((1, -1) + (1,) * (x.ndim - 2))
                    + beta.reshape((1, -1) + (1,) * (x.ndim - 2)),
                ),
                (
                    "x normalised with the unbiased variance (m - 1); normalising uses the "
                    "biased one (m)",
                    unbiased * gamma.reshape((1, -1) + (1,) * (x.ndim - 2))
                    + beta.reshape((1, -1) + (1,) * (x.ndim - 2)),
                ),
            ],
        )


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64).copy())


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_forward_eval(exercise, rng, reference_update):
    for shape in [(4, 3, 5, 5), (8, 3)]:
        x, gamma, beta, rm, rv = _inputs(rng, shape)
        expected = _torch_bn(rm, rv, False)(*(_t(a) for a in (x, gamma, beta))).numpy()
        x_hat, _, _ = _stats(x, gamma, rm, rv, True)
        pc = (1, -1) + (1,) * (x.ndim - 2)
        check_close(
            f"BatchNorm.forward in evaluation mode, x of shape {shape}: y",
            _forward(exercise, x, gamma, beta, rm, rv, False),
            expected,
            hint="in evaluation mode mu and var are self.running_mean and self.running_var",
            diagnoses=[
                (
                    "x normalised with the batch's statistics: evaluation mode uses "
                    "self.running_mean and self.running_var",
                    x_hat * gamma.reshape(pc) + beta.reshape(pc),
                )
            ],
        )


# ---- 3.2 running statistics ------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_running_statistics(exercise, rng):
    C, m = 3, 40
    mean, var = rand(rng, C), 0.5 + rng.random(C)
    rm, rv = rand(rng, C), 0.5 + rng.random(C)
    running_mean, running_var = rm.copy(), rv.copy()
    f = exercise.BatchNorm(running_mean, running_var, True, MOMENTUM, EPS, True, True)
    f.x_shape = (10, C, 2, 2)
    f._update_running(mean.copy(), var.copy(), m)
    expected_mean = (1 - MOMENTUM) * rm + MOMENTUM * mean
    expected_var = (1 - MOMENTUM) * rv + MOMENTUM * var * m / (m - 1)
    for name, array, expected in [
        ("running_mean", running_mean, expected_mean),
        ("running_var", running_var, expected_var),
    ]:
        if np.array_equal(array, rm if name == "running_mean" else rv):
            fail(
                f"BatchNorm._update_running left the {name} array unchanged: update it in place "
                f"(self.{name} *= 1 - momentum; self.{name} += ...), since it is the layer's "
                "buffer; assigning a new array to self.{name} leaves the layer's array as it was"
            )
    check_close(
        "BatchNorm._update_running: running_mean",
        running_mean,
        expected_mean,
        expected_label="expected",
        hint="(1 - momentum) * running_mean + momentum * mean",
    )
    check_close(
        "BatchNorm._update_running: running_var",
        running_var,
        expected_var,
        expected_label="expected",
        diagnoses=[
            (
                "the update with the biased variance: running_var takes the unbiased batch "
                "variance var * m / (m - 1), as in PyTorch",
                (1 - MOMENTUM) * rv + MOMENTUM * var,
            )
        ],
        hint="(1 - momentum) * running_var + momentum * var * m / (m - 1)",
    )


# ---- 3.3 backward ------------------------------------------------------------------------------


def _train_diagnoses(arrays, gy):
    x, gamma, _ = arrays
    x_hat, scale, mean = _stats(x, gamma, None, None, True)
    return {
        "x": [
            (
                "the training formula without the mean term: (gamma / sigma) * (g - x_hat * "
                "mean(g * x_hat)) is missing -mean(g), the path through mu",
                scale * (gy - x_hat * mean(gy * x_hat)),
            ),
            (
                "the training formula without the term -x_hat * mean(g * x_hat), the path through "
                "the variance",
                scale * (gy - mean(gy)),
            ),
            (
                "the evaluation-mode formula (gamma / sigma) * g: in training mode mu and sigma "
                "depend on x too",
                scale * gy,
            ),
        ]
    }


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_backward_train(exercise, rng, reference_update):
    for shape in [(4, 3, 5, 5), (8, 3)]:
        x, gamma, beta, rm, rv = _inputs(rng, shape)
        f = exercise.BatchNorm(rm.copy(), rv.copy(), True, MOMENTUM, EPS, True, True)
        check_backward(
            "BatchNorm.backward (training)",
            f,
            [x, gamma, beta],
            ["x", "gamma", "beta"],
            _torch_bn(rm, rv, True),
            rng,
            only=["x"],
            diagnoses=_train_diagnoses,
            hints={
                "x": "(gamma / sigma) * (g - mean(g) - x_hat * mean(g * x_hat)), "
                "means per channel over (N, H, W)"
            },
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_backward_gamma_beta(exercise, rng, reference_update):
    for training in (True, False):
        x, gamma, beta, rm, rv = _inputs(rng, (4, 3, 5, 5))
        f = exercise.BatchNorm(rm.copy(), rv.copy(), training, MOMENTUM, EPS, True, True)
        mode = "training" if training else "evaluation"
        check_backward(
            f"BatchNorm.backward ({mode})",
            f,
            [x, gamma, beta],
            ["x", "gamma", "beta"],
            _torch_bn(rm, rv, training),
            rng,
            only=["gamma", "beta"],
            hints={
                "gamma": "dL/dgamma = sum(g * x_hat) per channel over (N, H, W)",
                "beta": "dL/dbeta = sum(g) per channel over (N, H, W)",
            },
        )


def _eval_diagnoses(running_mean, running_var):
    def diagnoses(arrays, gy):
        x, gamma, _ = arrays
        x_hat, scale, mean = _stats(x, gamma, running_mean, running_var, False)
        return {
            "x": [
                (
                    "the training-mode formula (gamma / sigma) * (g - mean(g) - x_hat * "
                    "mean(g * x_hat)): in evaluation mode mu and sigma are constants, so "
                    "dL/dx = (gamma / sigma) * g",
                    scale * (gy - mean(gy) - x_hat * mean(gy * x_hat)),
                )
            ]
        }

    return diagnoses


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_backward_eval(exercise, rng, reference_update):
    for shape in [(4, 3, 5, 5), (8, 3)]:
        x, gamma, beta, rm, rv = _inputs(rng, shape)
        f = exercise.BatchNorm(rm.copy(), rv.copy(), False, MOMENTUM, EPS, True, True)
        check_backward(
            "BatchNorm.backward (evaluation)",
            f,
            [x, gamma, beta],
            ["x", "gamma", "beta"],
            _torch_bn(rm, rv, False),
            rng,
            only=["x"],
            diagnoses=_eval_diagnoses(rm, rv),
            hints={
                "x": "in evaluation mode mu and sigma are constants: "
                "dL/dx = (gamma / sigma) * g with sigma from running_var"
            },
        )
