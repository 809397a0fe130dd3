"""Grader of exercise 1 (autograd): your backward methods against PyTorch's gradients.

Each backward is called directly on float64 arrays: forward, then backward with a random
upstream gradient gy. Where a part calls another one (Mul.backward calls sum_to), the grader
swaps in learnres's own version of the other part, so one bug costs the points of one part.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch  # imported at collection, so no test's timeout pays for it

from learnres.autograd import Tensor
from learnres.autograd import graph as reference_graph
from learnres.functions import elementwise as reference
from learnres.functions import reduce as reference_reduce
from learnres.grading.checks import check_backward, check_close, check_shape, fail, rand

EXERCISE = "1. Autograd"
MODULE = "ex1_autograd"


@pytest.fixture
def rng():
    return np.random.default_rng(1)


@pytest.fixture
def reference_sum_to(exercise, monkeypatch):
    """Your Mul and MatMul call learnres's sum_to here, so a bug in 1.1 is not counted twice."""
    monkeypatch.setattr(exercise, "sum_to", reference.sum_to)


# ---- 1.1 sum_to ---------------------------------------------------------------------------


def _check_sum_to(exercise, rng, cases, hint):
    for g_shape, shape in cases:
        g = rand(rng, *g_shape)
        expected = reference.sum_to(g, shape)
        what = f"sum_to(g of shape {g_shape}, {shape})"
        check_shape(what, exercise.sum_to(g.copy(), shape), shape, hint=hint)
        check_close(what, exercise.sum_to(g.copy(), shape), expected, expected_label="expected")


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_sum_to_leading_axes(exercise, rng):
    hint = "sum over the leading axes that broadcasting added: axes 0 .. g.ndim - len(shape) - 1"
    _check_sum_to(
        exercise, rng, [((3, 4), (3, 4)), ((2, 3, 4), (3, 4)), ((5, 4), (4,)), ((3,), ())], hint
    )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_sum_to_size_one_axes(exercise, rng):
    hint = (
        "where shape has 1 and g does not, the input was stretched: sum that axis with "
        "keepdims=True so it stays an axis of size 1 (then reshape to shape)"
    )
    _check_sum_to(
        exercise, rng, [((3, 4), (1, 4)), ((2, 3, 4), (3, 1)), ((2, 3, 4), (2, 1, 1))], hint
    )


# ---- 1.2 Mul.backward -------------------------------------------------------------------------

MUL_HINTS = {
    "a": "dL/da = gy * b: multiply gy by the OTHER input",
    "b": "dL/db = gy * a: multiply gy by the OTHER input",
}


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_mul_backward(exercise, rng, reference_sum_to):
    a, b = rand(rng, 3, 4), rand(rng, 3, 4)
    check_backward(
        "Mul.backward", exercise.Mul(), [a, b], "ab", lambda a, b: a * b, rng, hints=MUL_HINTS
    )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_mul_backward_broadcast(exercise, rng, reference_sum_to):
    for a_shape, b_shape in [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3))]:
        a, b = rand(rng, *a_shape), rand(rng, *b_shape)
        check_backward(
            "Mul.backward", exercise.Mul(), [a, b], "ab", lambda a, b: a * b, rng, hints=MUL_HINTS
        )


# ---- 1.3 MatMul.backward -------------------------------------------------------------------

MATMUL_HINTS = {
    "a": "dL/da = gy @ b^T with b^T = b.swapaxes(-1, -2) (gy (n, m) @ b^T (m, k) -> (n, k))",
    "b": "dL/db = a^T @ gy with a^T = a.swapaxes(-1, -2) (a^T (k, n) @ gy (n, m) -> (k, m))",
}


def _matmul_diagnoses(arrays, gy):
    a, b = arrays
    if a.ndim != 2 or b.ndim != 2:
        return {}
    return {
        "a": [("gy @ b, missing the transpose of b", gy @ b)] if gy.shape[1] == b.shape[0] else [],
        "b": [("a @ gy without transposing a", a @ gy)] if a.shape[1] == gy.shape[0] else [],
    }


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_matmul_backward(exercise, rng, reference_sum_to):
    for a_shape, b_shape in [((4, 4), (4, 4)), ((3, 4), (4, 5))]:
        a, b = rand(rng, *a_shape), rand(rng, *b_shape)
        check_backward(
            "MatMul.backward",
            exercise.MatMul(),
            [a, b],
            "ab",
            lambda a, b: a @ b,
            rng,
            hints=MATMUL_HINTS,
            diagnoses=_matmul_diagnoses,
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_matmul_backward_batched(exercise, rng, reference_sum_to):
    for a_shape, b_shape in [((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5))]:
        a, b = rand(rng, *a_shape), rand(rng, *b_shape)
        check_backward(
            "MatMul.backward",
            exercise.MatMul(),
            [a, b],
            "ab",
            lambda a, b: a @ b,
            rng,
            hints=MATMUL_HINTS,
        )


# ---- 1.4 ReLU.backward ------------------------------------------------------------------------


def _relu_diagnoses(arrays, gy):
    (x,) = arrays
    return {
        "x": [
            ("gy * y (the output), not gy * [x > 0] (the mask)", gy * np.maximum(x, 0)),
            ("gy * [x >= 0]: at x = 0 the gradient is 0, as in PyTorch", gy * (x >= 0)),
        ]
    }


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_relu_backward(exercise, rng):
    x = rand(rng, 4, 5)
    check_backward(
        "ReLU.backward",
        exercise.ReLU(),
        [x],
        ["x"],
        lambda x: x.relu(),
        rng,
        hints={"x": "dL/dx = gy * (x > 0)"},
        diagnoses=_relu_diagnoses,
    )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_relu_backward_at_zero(exercise, rng):
    x = np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]])
    check_backward(
        "ReLU.backward",
        exercise.ReLU(),
        [x],
        ["x"],
        lambda x: x.relu(),
        rng,
        hints={"x": "at x = 0 the gradient is 0 (as in PyTorch): use x > 0, not x >= 0"},
        diagnoses=_relu_diagnoses,
    )


# ---- 1.5 topological_order ---------------------------------------------------------------------


def _leaf(rng, name, names, *shape):
    t = Tensor(rand(rng, *shape), requires_grad=True)
    names[id(t)] = name
    return t


def _named(t, name, names):
    names[id(t)] = name
    return t


def _reachable(root) -> dict[int, object]:
    """Every tensor requiring grad that ``root`` depends on (learnres's own walk)."""
    return {id(t): t for t in reference_graph.topological_order(root)}


def _check_order(exercise, root, names, what):
    order = exercise.topological_order(root)
    if not isinstance(order, list):
        fail(f"topological_order returned {type(order).__name__}, expected a list of tensors")

    def label(t):
        return names.get(id(t), f"a tensor of shape {t.shape}")

    expected = _reachable(root)
    ids = [id(t) for t in order]
    if len(ids) != len(set(ids)):
        twice = next(t for t in order if ids.count(id(t)) > 1)
        fail(
            f"{what}: topological_order lists {label(twice)} twice; list each tensor once "
            "(remember the visited ones by id(tensor))"
        )
    missing = [label(t) for i, t in expected.items() if i not in set(ids)]
    extra = [label(t) for t in order if id(t) not in expected]
    if missing:
        fail(
            f"{what}: topological_order left out {', '.join(missing)} (every tensor that "
            "requires grad and that the root depends on belongs in the order)"
        )
    if extra:
        fail(
            f"{what}: topological_order included {', '.join(extra)}, which needs no gradient "
            "(leave out inputs with requires_grad=False)"
        )
    if order[0] is not root:
        fail(f"{what}: the order starts with {label(order[0])}; the root comes first")
    position = {id(t): k for k, t in enumerate(order)}
    for t in order:
        if t.creator is None:
            continue
        for x in t.creator.inputs:
            if x.requires_grad and position[id(x)] < position[id(t)]:
                fail(
                    f"{what}: topological_order puts `{label(x)}` (position {position[id(x)]}) "
                    f"before `{label(t)}` (position {position[id(t)]}), which uses it: backward "
                    f"would pass on the gradient of `{label(x)}` before `{label(t)}` has added "
                    "its part. "
                    "Each tensor must come after ALL the tensors that use it: place a tensor "
                    "only after all of its inputs are finished (post-order), then reverse."
                )
    return order


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_topological_order_chain(exercise, rng):
    names = {}
    x = _leaf(rng, "x", names, 3)
    y = _named(reference.relu(x), "y = relu(x)", names)
    z = _named(reference.mul(y, Tensor(rand(rng, 3))), "z = y * w (w needs no grad)", names)
    _check_order(exercise, z, names, "for z = relu(x) * w")


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_topological_order_shared_tensor(exercise, rng):
    for how in ("c / sum(c)", "sum(c) * c", "(c + d) * (d + c)"):
        names = {}
        a = _leaf(rng, "a", names, 2, 3)
        c = _named(reference.mul(a, a), "c = a * a", names)
        s = _named(reference_reduce.sum(c, axis=1, keepdims=True), "s = sum(c)", names)
        if how == "c / sum(c)":
            root = reference.div(c, s)
        elif how == "sum(c) * c":
            root = reference.mul(s, c)
        else:
            d = _named(reference.exp(c), "d = exp(c)", names)
            root = reference.mul(
                _named(reference.add(c, d), "c + d", names),
                _named(reference.add(d, c), "d + c", names),
            )
        _check_order(exercise, _named(root, "the root", names), names, f"for {how}")


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_topological_order_deep_chain(exercise, rng):
    x = Tensor(rand(rng, 2), requires_grad=True)
    y = x
    for _ in range(5000):
        y = reference.mul(y, 1.0001)
    try:
        order = exercise.topological_order(y)
    except RecursionError:
        fail(
            "topological_order hit Python's recursion limit on a chain of 5,000 ops: walk the "
            "graph with a loop and an explicit stack instead of recursive calls"
        )
    if len(order) != 5001 or order[0] is not y or order[-1] is not x:
        fail(
            f"on a chain of 5,000 ops (5,001 tensors) topological_order returned {len(order)} "
            "tensors; expected the root first and the leaf x last"
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_backward_with_your_order(exercise, rng, monkeypatch):
    """The whole backward pass, walked in your order, against PyTorch."""
    monkeypatch.setattr(reference_graph, "topological_order", exercise.topological_order)
    a0, g = rand(rng, 2, 3), rand(rng, 2, 3)
    a = Tensor(a0.copy(), requires_grad=True)
    c = a * a
    y = c.sum(axis=1, keepdims=True) * c + c / c.sum(axis=1, keepdims=True)
    y.backward(g)
    ta = torch.tensor(a0, requires_grad=True)
    tc = ta * ta
    (tc.sum(1, keepdim=True) * tc + tc / tc.sum(1, keepdim=True)).backward(torch.from_numpy(g))
    check_close(
        "backward in your topological order: dL/da for y = sum(c) * c + c / sum(c), c = a * a",
        a.grad,
        ta.grad.numpy(),
        hint="a tensor's gradient was passed on before all the ops using it had added their "
        "parts; check that each tensor comes after every tensor that uses it",
    )
