"""Grader of exercise 3 (batch normalization): forward, running statistics and backward,
in training and evaluation mode, against torch.nn.functional.batch_norm in float64.

Forward calls ``_update_running``: the forward and backward tests use learnres's own
``_update_running``, so a bug in 3.2 costs only its own test. The backward tests run your
forward first (backward reads what it saved) and check its output before the gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.grading.checks import check_close, fail, grade_backward, rand

EXERCISE = "3. Batch normalization"
MODULE = "ex3_batchnorm"
EPS, MOMENTUM = 1e-5, 0.1
UPDATE = ("BatchNorm._update_running",)  # what the forward and backward tests give your code


def _inputs(rng, shape):
    C = shape[1]
    x = 1.5 * rand(rng, *shape) + 0.5
    gamma, beta = 1 + 0.5 * rand(rng, C), rand(rng, C)
    running_mean, running_var = rand(rng, C), 0.5 + rng.random(C)
    return x, gamma, beta, running_mean, running_var


def _torch_bn(running_mean, running_var, training):
    def f(x, gamma, beta):
        import torch
        import torch.nn.functional as F

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


def run_forward(module, x, gamma, beta, running_mean, running_var, training):
    f = module.BatchNorm(
        np.array(running_mean), np.array(running_var), training, MOMENTUM, EPS, True, True
    )
    f.needs_input_grad = (True, True, True)
    return f.forward(np.array(x), np.array(gamma), np.array(beta))


def _forward(exercise, x, gamma, beta, running_mean, running_var, training):
    return exercise.run(
        run_forward, x, gamma, beta, running_mean, running_var, training, given=UPDATE
    )


# ---- 3.1 forward -------------------------------------------------------------------------------


def _expected_forward_train(x, gamma, beta, rm, rv):
    expected = _torch_bn(rm, rv, True)(*(_t(a) for a in (x, gamma, beta))).detach().numpy()
    x_hat, _, _ = _stats(x, gamma, rm, rv, True)
    axes = (0,) + tuple(range(2, x.ndim))
    pc = (1, -1) + (1,) * (x.ndim - 2)
    unbiased = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(
        x.var(axis=axes, ddof=1, keepdims=True) + EPS
    )
    return {
        "y": expected,
        "diagnoses": [
            ("x_hat: gamma and beta are not applied (y = gamma * x_hat + beta)", x_hat),
            (
                "x normalised with the running statistics: training mode uses the batch's",
                _stats(x, gamma, rm, rv, False)[0] * gamma.reshape(pc) + beta.reshape(pc),
            ),
            (
                "x normalised with the unbiased variance (m - 1); normalising uses the "
                "biased one (m)",
                unbiased * gamma.reshape(pc) + beta.reshape(pc),
            ),
        ],
    }


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_forward_train(exercise, rng):
    for shape in [(4, 3, 5, 5), (8, 3)]:
        x, gamma, beta, rm, rv = _inputs(rng, shape)
        got = _forward(exercise, x, gamma, beta, rm, rv, True)
        expected = exercise.expect(_expected_forward_train, x, gamma, beta, rm, rv)
        check_close(
            f"BatchNorm.forward in training mode, x of shape {shape}: y",
            got,
            expected["y"],
            hint="normalise each channel with the batch's mean and biased variance over (N, H, W)",
            diagnoses=expected["diagnoses"],
        )


def _t(a):
    import torch

    return torch.from_numpy(np.asarray(a, dtype=np.float64).copy())


def _expected_forward_eval(x, gamma, beta, rm, rv):
    expected = _torch_bn(rm, rv, False)(*(_t(a) for a in (x, gamma, beta))).numpy()
    x_hat, _, _ = _stats(x, gamma, rm, rv, True)
    pc = (1, -1) + (1,) * (x.ndim - 2)
    return {
        "y": expected,
        "diagnoses": [
            (
                "x normalised with the batch's statistics: evaluation mode uses "
                "self.running_mean and self.running_var",
                x_hat * gamma.reshape(pc) + beta.reshape(pc),
            )
        ],
    }


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_forward_eval(exercise, rng):
    for shape in [(4, 3, 5, 5), (8, 3)]:
        x, gamma, beta, rm, rv = _inputs(rng, shape)
        got = _forward(exercise, x, gamma, beta, rm, rv, False)
        expected = exercise.expect(_expected_forward_eval, x, gamma, beta, rm, rv)
        check_close(
            f"BatchNorm.forward in evaluation mode, x of shape {shape}: y",
            got,
            expected["y"],
            hint="in evaluation mode mu and var are self.running_mean and self.running_var",
            diagnoses=expected["diagnoses"],
        )


# ---- 3.2 running statistics ------------------------------------------------------------------


def run_update_running(module, mean, var, rm, rv, m: int):
    """Runner: the layer's running_mean and running_var arrays after _update_running."""
    running_mean, running_var = np.array(rm), np.array(rv)
    f = module.BatchNorm(running_mean, running_var, True, MOMENTUM, EPS, True, True)
    f.x_shape = (10, len(mean), 2, 2)
    f._update_running(np.array(mean), np.array(var), m)
    return running_mean, running_var


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_running_statistics(exercise, rng):
    C, m = 3, 40
    mean, var = rand(rng, C), 0.5 + rng.random(C)
    rm, rv = rand(rng, C), 0.5 + rng.random(C)
    running_mean, running_var = exercise.run(run_update_running, mean, var, rm, rv, m)
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
def test_backward_train(exercise, rng):
    for shape in [(4, 3, 5, 5), (8, 3)]:
        x, gamma, beta, rm, rv = _inputs(rng, shape)
        grade_backward(
            exercise,
            "BatchNorm.backward (training)",
            "BatchNorm",
            (rm, rv, True, MOMENTUM, EPS, True, True),
            [x, gamma, beta],
            ["x", "gamma", "beta"],
            _torch_bn(rm, rv, True),
            rng,
            only=["x"],
            given=UPDATE,
            diagnoses=_train_diagnoses,
            hints={
                "x": "(gamma / sigma) * (g - mean(g) - x_hat * mean(g * x_hat)), "
                "means per channel over (N, H, W)"
            },
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_backward_gamma_beta(exercise, rng):
    for training in (True, False):
        x, gamma, beta, rm, rv = _inputs(rng, (4, 3, 5, 5))
        mode = "training" if training else "evaluation"
        grade_backward(
            exercise,
            f"BatchNorm.backward ({mode})",
            "BatchNorm",
            (rm, rv, training, MOMENTUM, EPS, True, True),
            [x, gamma, beta],
            ["x", "gamma", "beta"],
            _torch_bn(rm, rv, training),
            rng,
            only=["gamma", "beta"],
            given=UPDATE,
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
def test_backward_eval(exercise, rng):
    for shape in [(4, 3, 5, 5), (8, 3)]:
        x, gamma, beta, rm, rv = _inputs(rng, shape)
        grade_backward(
            exercise,
            "BatchNorm.backward (evaluation)",
            "BatchNorm",
            (rm, rv, False, MOMENTUM, EPS, True, True),
            [x, gamma, beta],
            ["x", "gamma", "beta"],
            _torch_bn(rm, rv, False),
            rng,
            only=["x"],
            given=UPDATE,
            diagnoses=_eval_diagnoses(rm, rv),
            hints={
                "x": "in evaluation mode mu and sigma are constants: "
                "dL/dx = (gamma / sigma) * g with sigma from running_var"
            },
        )
