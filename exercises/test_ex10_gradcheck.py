"""Grader of exercise 10 (a gradient check): your finite differences against learnres's, and
your check against planted backwards: it must pass learnres's correct ones and catch wrong
ones, including two that a check of sum(f(x)) cannot see.

The gradcheck tests give your code learnres's own numerical_gradient and _compare (10.1,
10.3), so a bug there costs only their points.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.grading.checks import check_close, describe, fail, rand

EXERCISE = "10. Gradient check"
MODULE = "ex10_gradcheck"
HELPERS = ("numerical_gradient", "_compare")


# ---- 10.1 finite differences --------------------------------------------------------------------


def smooth(a, b):
    """A function with curvature everywhere: tanh(a @ b) * (1 + a.sum())."""
    return np.tanh(a @ b) * (1 + a.sum())


def run_numerical_gradient(module, a, b, g):
    arrays = [np.array(a), np.array(b)]
    before = [x.copy() for x in arrays]
    grads = [module.numerical_gradient(smooth, arrays, i, np.array(g)) for i in (0, 1)]
    changed = [not np.array_equal(x, y) for x, y in zip(arrays, before)]
    return {"grads": grads, "changed": changed}


def _expected_numerical(a, b, g, eps=1e-6):
    from learnres.testing.gradcheck import numerical_gradient

    out = {"grads": [], "one_sided": []}
    for i in (0, 1):
        arrays = [a, b]
        out["grads"].append(numerical_gradient(smooth, arrays, i, g, eps))
        base = float(np.sum(g * smooth(a, b)))
        one_sided = np.zeros(arrays[i].shape)
        for idx in np.ndindex(one_sided.shape):
            values = [a.copy(), b.copy()]
            values[i][idx] += eps
            one_sided[idx] = (float(np.sum(g * smooth(*values))) - base) / eps
        out["one_sided"].append(one_sided)
    return out


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_numerical_gradient(exercise, rng):
    a, b = 0.5 * rand(rng, 3, 4), 0.5 * rand(rng, 4, 2)
    g = rand(rng, 3, 2)
    got = exercise.run(run_numerical_gradient, a, b, g)
    if any(got["changed"]):
        fail("numerical_gradient changed the arrays it was given: perturb copies")
    expected = exercise.expect(_expected_numerical, a, b, g)
    for i, name in enumerate("ab"):
        check_close(
            f"numerical_gradient(f, [a, b], {i}, g) for f(a, b) = tanh(a @ b) * (1 + sum(a)): "
            f"d sum(g * f) / d{name}",
            got["grads"][i],
            expected["grads"][i],
            expected_label="central differences",
            diagnoses=[
                (
                    "the one-sided difference (L(x + eps) - L(x)) / eps: its error is O(eps), "
                    "about 1e-6 of the value here; (L(x + eps) - L(x - eps)) / (2 eps) cancels "
                    "the eps^1 term of the Taylor series",
                    expected["one_sided"][i],
                )
            ],
            hint="perturb one entry at a time by +eps and -eps; the derivative of "
            "L = sum(g * f(...)) is the difference of the two L over 2 eps",
        )


# ---- 10.2 the check: correct backwards pass, wrong ones are caught --------------------------


def _correct_ops(rng_seed: int):
    """(name, fn, inputs) for learnres ops whose backward is right."""
    from learnres.functions import batchnorm, conv, elementwise, loss

    rng = np.random.default_rng(rng_seed)
    x4 = rng.standard_normal((3, 2, 4, 4))
    labels = rng.integers(0, 5, 4)
    return [
        (
            "batch norm (training mode)",
            lambda x, gamma, beta: batchnorm.batch_norm(x, None, None, gamma, beta, True),
            [x4, 1 + 0.3 * rng.standard_normal(2), rng.standard_normal(2)],
        ),
        ("softmax", lambda x: loss.softmax(x, axis=1), [rng.standard_normal((4, 5))]),
        (
            "conv2d (stride 2, padding 1)",
            lambda x, w: conv.conv2d(x, w, None, 2, 1),
            [x4, rng.standard_normal((3, 2, 3, 3))],
        ),
        (
            "cross_entropy (integer labels pass through)",
            lambda z, y: loss.cross_entropy(z, y),
            [rng.standard_normal((4, 5)), labels],
        ),
        (
            "tanh(a) * b",
            lambda a, b: elementwise.mul(elementwise.tanh(a), b),
            [rng.standard_normal(5), rng.standard_normal(5)],
        ),
    ]


def run_check_correct(module, rng_seed: int):
    out = []
    for name, fn, inputs in _correct_ops(rng_seed):
        report = module.gradcheck(fn, inputs)
        out.append((name, bool(report.ok), len(report.inputs)))
    return out


def _wrong_ops(rng_seed: int):
    """(name, why it is wrong, fn, inputs) for planted wrong backwards."""
    from learnres.autograd.function import Function

    class NormalizeMissingVarianceTerm(Function):
        """Batch normalization (gamma 1, beta 0) whose backward leaves out the path through the
        variance: with g = 1 its answer is right (0), with a random g it is not."""

        def forward(self, x):
            mu, var = x.mean(axis=0), x.var(axis=0)
            self.inv_sigma = 1 / np.sqrt(var + 1e-5)
            return (x - mu) * self.inv_sigma

        def backward(self, gy):
            return (self.inv_sigma * (gy - gy.mean(axis=0)),)

    class SoftmaxMeanNotWeighted(Function):
        """Softmax whose backward subtracts mean(gy) instead of sum(gy * y)."""

        def forward(self, x):
            e = np.exp(x - x.max(axis=1, keepdims=True))
            self.y = e / e.sum(axis=1, keepdims=True)
            return self.y

        def backward(self, gy):
            return (self.y * (gy - gy.mean(axis=1, keepdims=True)),)

    class MatMulSlightlyOff(Function):
        """a @ b whose dL/da is 0.1% too large."""

        def forward(self, a, b):
            self.a, self.b = a, b
            return a @ b

        def backward(self, gy):
            return (1.001 * gy @ self.b.T, self.a.T @ gy)

    rng = np.random.default_rng(rng_seed)
    return [
        (
            "batch norm without the variance path",
            "sum(f(x)) has a constant sum, so a check with g = 1 sees 0 = 0",
            lambda x: NormalizeMissingVarianceTerm()(x),
            [rng.standard_normal((6, 3))],
        ),
        (
            "softmax with mean(gy) for sum(gy * y)",
            "softmax's rows sum to 1, so a check with g = 1 sees 0 = 0",
            lambda x: SoftmaxMeanNotWeighted()(x),
            [rng.standard_normal((4, 5))],
        ),
        (
            "a matmul whose dL/da is 0.1% too large",
            "an error of 1e-3 of the value is far above any sensible tolerance",
            lambda a, b: MatMulSlightlyOff()(a, b),
            [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))],
        ),
    ]


def run_check_wrong(module, rng_seed: int):
    return [bool(module.gradcheck(fn, inputs).ok) for _, _, fn, inputs in _wrong_ops(rng_seed)]


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_gradcheck_passes_correct_backwards(exercise, rng):
    got = exercise.run(run_check_correct, int(rng.integers(2**31)), given=HELPERS)
    for name, ok, entries in got:
        if not ok:
            fail(
                f"your gradcheck failed learnres's {name}, whose backward is right (it matches "
                "PyTorch): the check compares values it should not, or with the wrong "
                "upstream gradient; use the SAME g for backward and the numerical gradient"
            )
    for (name, _, entries), expected in zip(got, [3, 1, 2, 1, 2]):
        if entries != expected:
            fail(
                f"your gradcheck's report for {name} has {entries} entries; expected one per "
                f"floating-point input ({expected}); integer inputs (labels) are not checked"
            )


@pytest.mark.points(2)
@pytest.mark.timeout(30)
def test_gradcheck_catches_wrong_backwards(exercise, rng):
    seed = int(rng.integers(2**31))
    got = exercise.run(run_check_wrong, seed, given=HELPERS)
    for (name, why, _, _), ok in zip(_wrong_ops(seed), got):
        if ok:
            fail(
                f"your gradcheck passed a planted wrong backward ({name}): {why}. Draw the "
                "upstream gradient g at random (np.random.default_rng(seed).standard_normal"
                "(y.shape)) and compare d sum(g * f) / dx both ways"
            )


def run_report(module, rng_seed: int):
    out = []
    for _, _, fn, inputs in _wrong_ops(rng_seed):
        report = module.gradcheck(fn, inputs, seed=7)
        out.append(
            [(c.name, tuple(c.index), c.numeric, c.analytic, bool(c.ok)) for c in report.inputs]
        )
    return out


def _reference_report(rng_seed: int):
    from learnres.testing.gradcheck import gradcheck

    return [
        [
            (c.name, tuple(c.index), c.numeric, c.analytic, bool(c.ok))
            for c in gradcheck(fn, inputs, seed=7).inputs
        ]
        for _, _, fn, inputs in _wrong_ops(rng_seed)
    ]


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_gradcheck_report(exercise, rng):
    seed = int(rng.integers(2**31))
    got = exercise.run(run_report, seed, given=HELPERS)
    expected = exercise.expect(_reference_report, seed)
    for (name, _, _, _), mine, theirs in zip(_wrong_ops(seed), got, expected):
        if len(mine) != len(theirs):
            fail(f"gradcheck's report for {name} has {len(mine)} entries, expected {len(theirs)}")
        for m, t in zip(mine, theirs):
            if m[0] != t[0] or tuple(m[1]) != tuple(t[1]) or m[4] != t[4]:
                fail(
                    f"gradcheck(..., seed=7) on {name}: your report says {m[0]!r} is worst at "
                    f"{m[1]} (ok={m[4]}); expected {t[0]!r} at {tuple(t[1])} (ok={t[4]}). Draw "
                    "g with np.random.default_rng(seed).standard_normal(y.shape), so that a "
                    "report can be repeated"
                )
            check_close(
                f"gradcheck(..., seed=7) on {name}: the numeric and analytic values of "
                f"{m[0]!r} at its worst index",
                np.array(m[2:4], dtype=float),
                np.array(t[2:4], dtype=float),
                rtol=1e-6,
                expected_label="learnres's report",
            )


# ---- 10.3 the comparison ------------------------------------------------------------------------


FIELDS = ("name", "index", "numeric", "analytic", "abs_error", "rel_error", "ok")


def run_compare(module, cases):
    out = []
    for numeric, analytic, atol, rtol in cases:
        c = module._compare("x", np.array(numeric), np.array(analytic), atol, rtol)
        out.append({f: getattr(c, f, None) for f in FIELDS})
    return out


def _reference_compare(cases):
    from learnres.testing.gradcheck import _compare

    out = []
    for numeric, analytic, atol, rtol in cases:
        c = _compare("x", numeric, analytic, atol, rtol)
        out.append({f: getattr(c, f) for f in FIELDS})
    return out


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_compare(exercise, rng):
    big = 1e3 * rand(rng, 3, 4)
    cases = [
        (big, big + 1e-4 * rand(rng, 3, 4), 1e-6, 1e-5),  # passes only relative to the scale
        (rand(rng, 5), rand(rng, 5), 1e-6, 1e-5),
        (1e-9 * rand(rng, 2, 2), np.zeros((2, 2)), 1e-6, 1e-5),  # passes only through atol
        (np.zeros((0, 3)), np.zeros((0, 3)), 1e-6, 1e-5),
    ]
    got = exercise.run(run_compare, cases)
    for k, (mine, expected) in enumerate(zip(got, exercise.expect(_reference_compare, cases))):
        what = [
            "a large input off by 1e-7 of its scale",
            "two unrelated inputs",
            "a tiny input against zeros",
            "an empty input",
        ][k]
        if not isinstance(mine, dict):
            fail(f"_compare returned {describe(mine)}, expected an InputCheck")
        if mine["ok"] != expected["ok"]:
            fail(
                f"_compare on {what} says ok={mine['ok']}, expected {expected['ok']}: an entry "
                "passes when |numeric - analytic| <= atol + rtol * scale, scale being the "
                "largest |numeric| of the input"
            )
        for field in ("index", "numeric", "analytic", "abs_error", "rel_error"):
            a, b = mine[field], expected[field]
            same = tuple(a) == tuple(b) if field == "index" else np.isclose(a, b, rtol=1e-9)
            if not same:
                fail(f"_compare on {what}: {field} is {a!r}, expected {b!r}")
