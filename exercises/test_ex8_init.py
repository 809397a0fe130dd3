"""Grader of exercise 8 (He initialisation): the fans and gains against learnres's values, the
initialisers against learnres's draws from the same generator, and the reason for it all: the
variance of the signal stays flat through a deep plain ReLU stack initialised with your code.

The initialiser tests give your code learnres's own fans and gains (8.1, 8.2), so a bug there
costs only their points.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from learnres.grading.checks import check_close, describe, fail

EXERCISE = "8. He initialisation"
MODULE = "ex8_init"
FANS_AND_GAINS = ("calculate_fan_in_and_fan_out", "calculate_gain")


def _call(fn, *args, **kwargs):
    """fn(...), or the name of the ValueError/TypeError it raised."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as e:
        return type(e).__name__


# ---- 8.1 and 8.2 fans and gains -----------------------------------------------------------------


def _fan_shapes(rng) -> list[tuple]:
    """A Linear weight, Conv2d weights (square and not), a 3-d kernel, and a bias (1-d)."""
    n = [int(k) for k in rng.integers(1, 40, 6)]
    k = [int(k) for k in rng.integers(1, 8, 3)]
    return [
        (n[0], n[1]),
        (n[2], n[3], k[0], k[0]),
        (n[4], n[5], k[1], k[2]),
        (n[0], n[3], k[2], k[1], k[0]),
        (n[5],),
    ]


def run_fans(module, shapes):
    from learnres.autograd.tensor import Tensor

    return [_call(module.calculate_fan_in_and_fan_out, Tensor(np.zeros(s))) for s in shapes]


def _reference_fans(shapes):
    from learnres.autograd.tensor import Tensor
    from learnres.nn import init

    return [_call(init.calculate_fan_in_and_fan_out, Tensor(np.zeros(s))) for s in shapes]


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_fan_in_and_fan_out(exercise, rng):
    shapes = _fan_shapes(rng)
    got = exercise.run(run_fans, shapes)
    for shape, mine, expected in zip(shapes, got, exercise.expect(_reference_fans, shapes)):
        if isinstance(expected, str):
            if mine != expected:
                fail(
                    f"calculate_fan_in_and_fan_out(a weight of shape {shape}) returned {mine!r}; "
                    f"a weight needs at least 2 dimensions: raise {expected}"
                )
        elif not isinstance(mine, (tuple, list)) or tuple(mine) != tuple(expected):
            fail(
                f"calculate_fan_in_and_fan_out(a weight of shape {shape}) returned {mine!r}, "
                f"expected {tuple(expected)}: fan_in counts the inputs behind ONE output value "
                "(for a convolution: every input channel times the kernel's window), fan_out "
                "the outputs one input value reaches"
            )


GAIN_CASES = [
    ("relu", None),
    ("linear", None),
    ("conv2d", None),
    ("sigmoid", None),
    ("tanh", None),
    ("leaky_relu", None),
    ("softsign", None),
]


def run_gains(module, cases):
    return [_call(module.calculate_gain, name, param) for name, param in cases]


def _reference_gains(cases):
    from learnres.nn import init

    return [_call(init.calculate_gain, name, param) for name, param in cases]


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_gain(exercise, rng):
    cases = GAIN_CASES + [("leaky_relu", round(float(rng.uniform(0.05, 0.5)), 3))]
    got = exercise.run(run_gains, cases)
    for (name, param), mine, expected in zip(cases, got, exercise.expect(_reference_gains, cases)):
        call = f"calculate_gain({name!r}" + (f", {param})" if param is not None else ")")
        if isinstance(expected, str):
            if mine != expected:
                fail(f"{call} returned {mine!r}: an unknown nonlinearity raises ValueError")
            continue
        if isinstance(mine, str) or not math.isclose(float(mine), expected, rel_tol=1e-12):
            why = ""
            if name == "relu" and not isinstance(mine, str) and math.isclose(float(mine), 1.0):
                why = (
                    " A ReLU zeroes half of a symmetric signal, so E[x^2] after it is half of "
                    "its input's variance: the weights must double the variance to make up for it"
                )
            fail(f"{call} returned {mine!r}, expected {expected!r}.{why}")


# ---- 8.3 and 8.4 the initialisers ---------------------------------------------------------------

INIT_CASES = [
    ((32, 16, 3, 3), {"mode": "fan_in", "nonlinearity": "relu"}),
    ((32, 16, 3, 3), {"mode": "fan_out", "nonlinearity": "relu"}),
    ((40, 100), {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"}),
]


def run_init(module, name: str, shape, kwargs, seed: int):
    """Runner: a zero tensor filled by your initialiser ``name`` with default_rng(seed), twice
    (the same seed must give the same values); whether it returned the tensor."""
    from learnres.autograd.tensor import Tensor

    out = {}
    for key in ("first", "again"):
        t = Tensor(np.zeros(shape))
        returned = getattr(module, name)(t, **kwargs, rng=np.random.default_rng(seed))
        out[key] = t.data
        out["returned_it"] = returned is t
    return out


def _reference_init(name: str, shape, kwargs, seed: int):
    """Expected value: learnres's draw, its standard deviation, and the usual wrong draws."""
    from learnres.autograd.tensor import Tensor
    from learnres.nn import init

    t = Tensor(np.zeros(shape))
    getattr(init, name)(t, **kwargs, rng=np.random.default_rng(seed))
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
    fan = fan_in if kwargs["mode"] == "fan_in" else fan_out
    other = fan_out if kwargs["mode"] == "fan_in" else fan_in
    gain = init.calculate_gain(kwargs["nonlinearity"], kwargs.get("a", 0.0))
    std = gain / math.sqrt(fan)
    # the same draws scaled wrongly (normal_ and uniform_ scale one set of random numbers)
    wrong = {
        "with gain 1 (no correction for the nonlinearity)": 1 / gain,
        f"with the other fan ({kwargs['mode']} is asked for)": math.sqrt(fan / other),
        "with gain / fan, not gain / sqrt(fan), as the standard deviation": 1 / math.sqrt(fan),
        "with the variance gain^2 / fan used as the standard deviation": std,
    }
    if name == "kaiming_uniform_":
        label = "with bound = the standard deviation: U(-b, b) has variance b^2 / 3"
        wrong[label] = 1 / math.sqrt(3)
    return {
        "values": t.data,
        "std": std,
        "diagnoses": [(label, t.data * factor) for label, factor in wrong.items()],
    }


def _check_init(exercise, rng, name, cases):
    for shape, kwargs in cases:
        seed = int(rng.integers(2**31))
        got = exercise.run(run_init, name, shape, kwargs, seed, given=FANS_AND_GAINS)
        expected = exercise.expect(_reference_init, name, shape, kwargs, seed)
        settings = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        call = f"{name}(a weight of shape {shape}, {settings})"
        if not isinstance(got["first"], np.ndarray) or got["first"].shape != tuple(shape):
            fail(f"{call} left the tensor {describe(got['first'])}")
        if not np.array_equal(got["first"], got["again"]):
            fail(f"{call} gave other values for the same rng seed: draw with rng=rng")
        if not got["returned_it"]:
            fail(f"{call} did not return the tensor it filled (initialisers return it)")
        values = got["first"]
        measured = float(values.std())
        if np.allclose(values, expected["values"], rtol=1e-8, atol=0):
            continue
        if abs(measured / expected["std"] - 1) < 0.05:
            fail(
                f"{call}: the spread is right (std {measured:.4g}, expected {expected['std']:.4g}) "
                f"but the values are not the ones {'normal_' if 'normal' in name else 'uniform_'}"
                "(tensor, ..., rng=rng) draws: draw them with it and the rng you were given"
            )
        check_close(
            f"{call}: the weights (std {measured:.4g}; expected {expected['std']:.4g})",
            values,
            expected["values"],
            expected_label="learnres's draw",
            diagnoses=expected["diagnoses"],
            hint="std = gain / sqrt(fan): the gain of the nonlinearity, the fan of the mode",
        )


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_kaiming_normal(exercise, rng):
    _check_init(exercise, rng, "kaiming_normal_", INIT_CASES)


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_kaiming_uniform(exercise, rng):
    _check_init(exercise, rng, "kaiming_uniform_", INIT_CASES)


# ---- the reason: a deep plain stack -----------------------------------------------------------

DEPTH = 30
SHAPES = [(64, 256) if k % 2 == 0 else (256, 64) for k in range(DEPTH)]  # (out, in): 256, 64, ...


def run_stack(module, shapes, seed: int):
    """Runner: the weights of a plain stack of Linear layers (no bias, a ReLU after each),
    initialised by your kaiming_normal_(mode="fan_in", nonlinearity="relu")."""
    from learnres.autograd.tensor import Tensor

    rng = np.random.default_rng(seed)
    weights = []
    for shape in shapes:
        w = Tensor(np.zeros(shape))
        module.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", rng=rng)
        weights.append(w.data.astype(np.float32))
    return weights


def _signal(weights) -> np.ndarray:
    """E[z_k^2] / E[z_1^2] for the pre-activations z_k of layer k, from the weights alone: a
    layer multiplies the mean square by n_in * mean(w^2), and a ReLU halves it."""
    factors = [w.shape[1] * float(np.mean(np.square(w, dtype=np.float64))) / 2 for w in weights]
    return np.cumprod([1.0] + factors[1:])


@pytest.mark.points(2)
@pytest.mark.timeout(30)
def test_variance_stays_flat_through_a_deep_plain_stack(exercise, rng):
    weights = exercise.run(run_stack, SHAPES, int(rng.integers(2**31)), given=FANS_AND_GAINS)
    if not isinstance(weights, list) or len(weights) != DEPTH:
        fail(f"the stack's weights came back as {describe(weights)}")
    signal = _signal([np.asarray(w) for w in weights])
    shown = ", ".join(f"layer {k + 1}: {signal[k]:.3g}" for k in (0, 1, 2, 4, 9, 19, 29))
    if not (0.5 <= signal.min() and signal.max() <= 2.0):
        halving = 1 / 2 ** np.arange(DEPTH)
        fail(
            f"through {DEPTH} Linear+ReLU layers (alternately 256 -> 64 and 64 -> 256 units) "
            f"initialised by your kaiming_normal_(mode='fan_in', nonlinearity='relu'), the mean "
            f"square of the signal, relative to the first layer's, is {shown}: it should stay "
            "between 0.5 and 2 at every layer. Each layer multiplies it by fan_in * Var[w] and "
            "each ReLU halves it, so Var[w] must be 2 / fan_in. (With the gain 1 it halves at "
            f"every layer: {halving[29]:.1g} after 30.)"
        )
