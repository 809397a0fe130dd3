"""Grader of exercise 1 (autograd): your backward methods against PyTorch's gradients.

Each backward is called on float64 arrays: forward, then backward with a random upstream
gradient gy. Where a part calls another one (Mul.backward calls sum_to), the test gives your
code learnres's own version of the other part, so one bug costs the points of one part.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.grading.checks import check_close, check_shape, describe, fail, grade_backward, rand

EXERCISE = "1. Autograd"
MODULE = "ex1_autograd"


# ---- 1.1 sum_to ---------------------------------------------------------------------------


def run_sum_to(module, cases):
    return [module.sum_to(np.array(g), tuple(shape)) for g, shape in cases]


def _reference_sum_to(cases):
    from learnres.functions.elementwise import sum_to

    return [sum_to(np.array(g), tuple(shape)) for g, shape in cases]


def _check_sum_to(exercise, rng, shapes, hint):
    cases = [(rand(rng, *g_shape), shape) for g_shape, shape in shapes]
    got = exercise.run(run_sum_to, cases)
    expected = exercise.expect(_reference_sum_to, cases)
    for (g, shape), mine, wanted in zip(cases, got, expected):
        what = f"sum_to(g of shape {g.shape}, {shape})"
        check_shape(what, mine, shape, hint=hint)
        check_close(what, mine, wanted, expected_label="expected")


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


def _mul(a, b):
    return a * b


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_mul_backward(exercise, rng):
    a, b = rand(rng, 3, 4), rand(rng, 3, 4)
    grade_backward(
        exercise,
        "Mul.backward",
        "Mul",
        (),
        [a, b],
        "ab",
        _mul,
        rng,
        hints=MUL_HINTS,
        given=("sum_to",),
    )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_mul_backward_broadcast(exercise, rng):
    for a_shape, b_shape in [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3))]:
        a, b = rand(rng, *a_shape), rand(rng, *b_shape)
        grade_backward(
            exercise,
            "Mul.backward",
            "Mul",
            (),
            [a, b],
            "ab",
            _mul,
            rng,
            hints=MUL_HINTS,
            given=("sum_to",),
        )


# ---- 1.3 MatMul.backward -------------------------------------------------------------------

MATMUL_HINTS = {
    "a": "dL/da = gy @ b^T with b^T = b.swapaxes(-1, -2) (gy (n, m) @ b^T (m, k) -> (n, k))",
    "b": "dL/db = a^T @ gy with a^T = a.swapaxes(-1, -2) (a^T (k, n) @ gy (n, m) -> (k, m))",
}


def _matmul(a, b):
    return a @ b


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
def test_matmul_backward(exercise, rng):
    for a_shape, b_shape in [((4, 4), (4, 4)), ((3, 4), (4, 5))]:
        a, b = rand(rng, *a_shape), rand(rng, *b_shape)
        grade_backward(
            exercise,
            "MatMul.backward",
            "MatMul",
            (),
            [a, b],
            "ab",
            _matmul,
            rng,
            hints=MATMUL_HINTS,
            diagnoses=_matmul_diagnoses,
            given=("sum_to",),
        )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_matmul_backward_batched(exercise, rng):
    for a_shape, b_shape in [((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5))]:
        a, b = rand(rng, *a_shape), rand(rng, *b_shape)
        grade_backward(
            exercise,
            "MatMul.backward",
            "MatMul",
            (),
            [a, b],
            "ab",
            _matmul,
            rng,
            hints=MATMUL_HINTS,
            given=("sum_to",),
        )


# ---- 1.4 ReLU.backward ------------------------------------------------------------------------


def _relu(x):
    return x.relu()


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
    grade_backward(
        exercise,
        "ReLU.backward",
        "ReLU",
        (),
        [x],
        ["x"],
        _relu,
        rng,
        hints={"x": "dL/dx = gy * (x > 0)"},
        diagnoses=_relu_diagnoses,
    )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_relu_backward_at_zero(exercise, rng):
    x = rand(rng, 2, 3)
    x[0, 1] = x[1, 0] = 0.0
    grade_backward(
        exercise,
        "ReLU.backward",
        "ReLU",
        (),
        [x],
        ["x"],
        _relu,
        rng,
        hints={"x": "at x = 0 the gradient is 0 (as in PyTorch): use x > 0, not x >= 0"},
        diagnoses=_relu_diagnoses,
    )


# ---- 1.5 topological_order ---------------------------------------------------------------------

GRAPHS = {
    "chain": "z = relu(x) * w (w needs no grad)",
    "c / sum(c)": "c / sum(c), c = a * a",
    "sum(c) * c": "sum(c) * c, c = a * a",
    "(c + d) * (d + c)": "(c + d) * (d + c), c = a * a, d = exp(c)",
}


def _build_graph(how: str, arrays):
    """The graph ``how`` made with learnres's ops: (root, {id(tensor): name}). Every tensor
    the builder makes has a name, so an order can be described by names alone."""
    from learnres.autograd import Tensor
    from learnres.functions import elementwise as ops
    from learnres.functions import reduce

    names: dict[int, str] = {}

    def named(t, name):
        names[id(t)] = name
        return t

    if how == "chain":
        x = named(Tensor(np.array(arrays[0]), requires_grad=True), "x")
        y = named(ops.relu(x), "y = relu(x)")
        w = named(Tensor(np.array(arrays[1])), "w")
        return named(ops.mul(y, w), "z = y * w"), names
    a = named(Tensor(np.array(arrays[0]), requires_grad=True), "a")
    c = named(ops.mul(a, a), "c = a * a")
    s = named(reduce.sum(c, axis=1, keepdims=True), "s = sum(c)")
    if how == "c / sum(c)":
        root = ops.div(c, s)
    elif how == "sum(c) * c":
        root = ops.mul(s, c)
    else:
        d = named(ops.exp(c), "d = exp(c)")
        root = ops.mul(named(ops.add(c, d), "c + d"), named(ops.add(d, c), "d + c"))
    return named(root, "the root"), names


def run_topological_order(module, how: str, arrays):
    """Runner: your order of the graph ``how``, as the tensors' names."""
    root, names = _build_graph(how, arrays)
    order = module.topological_order(root)
    if not isinstance(order, list):
        return describe(order)
    return [
        names.get(id(t), f"a tensor you made, of shape {getattr(t, 'shape', '?')}") for t in order
    ]


def _graph_structure(how: str, arrays) -> dict:
    """Expected value: the graph's root, the tensors needing a gradient, and its edges."""
    from learnres.autograd import graph

    root, names = _build_graph(how, arrays)
    reachable = graph.topological_order(root)
    edges = [
        (names[id(t)], names[id(x)])
        for t in reachable
        if t.creator is not None
        for x in t.creator.inputs
        if x.requires_grad
    ]
    return {"root": names[id(root)], "reachable": [names[id(t)] for t in reachable], "edges": edges}


def _check_order(exercise, how: str, arrays):
    what = f"for {GRAPHS[how]}"
    order = exercise.run(run_topological_order, how, arrays)
    if not isinstance(order, list):
        fail(f"topological_order returned {order}, expected a list of tensors")
    graph = exercise.expect(_graph_structure, how, arrays)
    if len(order) != len(set(order)):
        twice = next(t for t in order if order.count(t) > 1)
        fail(
            f"{what}: topological_order lists {twice} twice; list each tensor once "
            "(remember the visited ones by id(tensor))"
        )
    missing = [t for t in graph["reachable"] if t not in order]
    extra = [t for t in order if t not in graph["reachable"]]
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
    if order[0] != graph["root"]:
        fail(f"{what}: the order starts with {order[0]}; the root comes first")
    position = {t: k for k, t in enumerate(order)}
    for t, x in graph["edges"]:
        if position[x] < position[t]:
            fail(
                f"{what}: topological_order puts `{x}` (position {position[x]}) before `{t}` "
                f"(position {position[t]}), which uses it: backward would pass on the gradient "
                f"of `{x}` before `{t}` has added its part. Each tensor must come after ALL the "
                "tensors that use it: place a tensor only after all of its inputs are finished "
                "(post-order), then reverse."
            )


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_topological_order_chain(exercise, rng):
    _check_order(exercise, "chain", [rand(rng, 3), rand(rng, 3)])


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_topological_order_shared_tensor(exercise, rng):
    for how in ("c / sum(c)", "sum(c) * c", "(c + d) * (d + c)"):
        _check_order(exercise, how, [rand(rng, 2, 3)])


def run_deep_chain(module, x0, n: int):
    """Runner: your order of a chain of n multiplications: its length and both ends."""
    from learnres.autograd import Tensor
    from learnres.functions import elementwise as ops

    x = Tensor(np.array(x0), requires_grad=True)
    y = x
    for _ in range(n):
        y = ops.mul(y, 1.0001)
    try:
        order = module.topological_order(y)
    except RecursionError:
        return "RecursionError"
    if not isinstance(order, list) or not order:
        return describe(order)
    return {"length": len(order), "root_first": order[0] is y, "leaf_last": order[-1] is x}


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_topological_order_deep_chain(exercise, rng):
    got = exercise.run(run_deep_chain, rand(rng, 2), 5000)
    if got == "RecursionError":
        fail(
            "topological_order hit Python's recursion limit on a chain of 5,000 ops: walk the "
            "graph with a loop and an explicit stack instead of recursive calls"
        )
    if not isinstance(got, dict):
        fail(f"topological_order returned {got} on a chain of 5,000 ops, expected a list")
    if got != {"length": 5001, "root_first": True, "leaf_last": True}:
        fail(
            f"on a chain of 5,000 ops (5,001 tensors) topological_order returned "
            f"{got['length']} tensors; expected the root first and the leaf x last"
        )


def run_backward_in_your_order(module, a0, g):
    """Runner: learnres's backward walking the graph in your order; returns dL/da."""
    from learnres.autograd import Tensor, graph

    original = graph.topological_order
    graph.topological_order = module.topological_order
    try:
        a = Tensor(np.array(a0), requires_grad=True)
        c = a * a
        y = c.sum(axis=1, keepdims=True) * c + c / c.sum(axis=1, keepdims=True)
        y.backward(np.array(g))
        return a.grad
    finally:
        graph.topological_order = original


def _torch_backward(a0, g):
    import torch

    ta = torch.tensor(a0, requires_grad=True)
    tc = ta * ta
    (tc.sum(1, keepdim=True) * tc + tc / tc.sum(1, keepdim=True)).backward(torch.from_numpy(g))
    return ta.grad.numpy()


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_backward_with_your_order(exercise, rng):
    """The whole backward pass, walked in your order, against PyTorch."""
    a0, g = rand(rng, 2, 3), rand(rng, 2, 3)
    got = exercise.run(
        run_backward_in_your_order,
        a0,
        g,
        given=("sum_to", "Mul.backward", "MatMul.backward", "ReLU.backward"),
    )
    check_close(
        "backward in your topological order: dL/da for y = sum(c) * c + c / sum(c), c = a * a",
        got,
        exercise.expect(_torch_backward, a0, g),
        hint="a tensor's gradient was passed on before all the ops using it had added their "
        "parts; check that each tensor comes after every tensor that uses it",
    )
