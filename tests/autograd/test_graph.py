"""The graph walk: topological order, accumulation, release of buffers, deep graphs."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnres import Tensor, no_grad
from learnres import functions as F
from learnres.autograd import Function, topological_order


def test_order_puts_each_tensor_before_its_inputs():
    x = Tensor(np.ones(3), requires_grad=True)
    a = x * 2.0
    b = a + x
    c = b * a
    order = topological_order(c)
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:
        if t.creator is not None:
            for parent in t.creator.inputs:
                if parent.requires_grad:
                    assert position[id(t)] < position[id(parent)]
    assert order[0] is c and order[-1] is x


def test_gradients_accumulate_for_a_tensor_used_twice():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = x * x + x  # x appears three times: dy/dx = 2x + 1
    g = np.array([0.5, -1.0, 2.0])
    y.backward(g)
    np.testing.assert_allclose(x.grad, g * (2 * x.data + 1))


def test_diamond_graph():
    x = Tensor(np.array([0.3, -0.7]), requires_grad=True)
    a = F.exp(x)
    b = F.tanh(x)
    y = a * b
    g = np.array([1.5, -2.0])
    y.backward(g)
    expected = g * (np.exp(x.data) * np.tanh(x.data) + np.exp(x.data) * (1 - np.tanh(x.data) ** 2))
    np.testing.assert_allclose(x.grad, expected)


def test_leaf_grads_accumulate_across_backward_calls():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3.0).backward(np.ones(2))
    (x * 3.0).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_buffers_are_released_after_backward():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = F.exp(x)
    f = y.creator
    assert hasattr(f, "y")
    y.backward(np.ones((2, 2)))
    assert f.released and not hasattr(f, "y")
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward(np.ones((2, 2)))


def test_retain_graph_keeps_buffers():
    x = Tensor(np.ones(2), requires_grad=True)
    y = F.exp(x)
    y.backward(np.ones(2), retain_graph=True)
    y.backward(np.ones(2))
    np.testing.assert_allclose(x.grad, 2 * np.e * np.ones(2))


def test_intermediate_grads_only_when_retained():
    x = Tensor(np.ones(2), requires_grad=True)
    a = (x * 2.0).retain_grad()
    b = x * 3.0
    (a * b).backward(np.ones(2))
    np.testing.assert_array_equal(a.grad, [3.0, 3.0])
    assert b.grad is None


def test_no_grad_records_nothing():
    x = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.creator is None


def test_backward_must_return_one_gradient_per_input():
    class Bad(Function):
        def forward(self, a, b):
            return a + b

        def backward(self, gy):
            return (gy,)

    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="bad.backward returned 1 gradients for 2 inputs"):
        Bad()(x, x).backward(np.ones(2))


def test_backward_gradient_shape_is_checked():
    class Bad(Function):
        def forward(self, a):
            return a * 2

        def backward(self, gy):
            return (gy.sum(),)

    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"gradient of shape \(\) for an input of shape \(3,\)"):
        Bad()(x).backward(np.ones(3))


def _chain_time(n: int) -> float:
    x = Tensor(np.ones(4), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    start = time.process_time()  # this process's CPU time: other jobs on the machine barely move it
    y.backward(np.ones(4))
    return time.process_time() - start, x


def test_a_chain_of_30000_ops_needs_no_recursion():
    elapsed, x = _chain_time(30_000)
    np.testing.assert_allclose(x.grad, 1.0001**30_000 * np.ones(4), rtol=1e-9)


def test_backward_is_linear_in_graph_size():
    """Work per node is constant: 4x the nodes costs about 4x (quadratic would be 16x).

    Not a timing target: the bound 8x leaves room for a noisy machine while a quadratic
    walk (16x) fails it. CPU time, not wall time: a busy machine (a training run beside the
    tests) stretches wall time by whatever share of the cores it takes.
    """
    small = min(_chain_time(5_000)[0] for _ in range(3))
    large = min(_chain_time(20_000)[0] for _ in range(3))
    assert large / small < 8


def test_a_tensor_reached_along_a_longer_path_waits_for_it():
    """c / sum(c): c feeds div directly and through sum; sum must be walked first."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    g = np.random.default_rng(1).standard_normal((3, 4))
    c = Tensor(x, requires_grad=True)
    (c / F.sum(c, axis=-1, keepdims=True)).backward(g)
    s = x.sum(axis=-1, keepdims=True)
    expected = g / s - (g * x).sum(axis=-1, keepdims=True) / s**2
    np.testing.assert_allclose(c.grad, expected, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_graphs_match_torch(data):
    """Random DAGs: each new node combines two earlier ones; gradients equal torch's."""
    import torch

    ops = [
        (lambda a, b: a * b, lambda a, b: a * b),
        (lambda a, b: a + b, lambda a, b: a + b),
        (lambda a, b: a - F.tanh(b), lambda a, b: a - torch.tanh(b)),
        (
            lambda a, b: a / (F.sum(b, axis=-1, keepdims=True) + 10.0),
            lambda a, b: a / (b.sum(-1, keepdim=True) + 10.0),
        ),
    ]
    x = np.random.default_rng(data.draw(st.integers(0, 99))).standard_normal((2, 3))
    ours, theirs = [Tensor(x, requires_grad=True)], [torch.tensor(x, requires_grad=True)]
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(ours) - 1))
        j = data.draw(st.integers(0, len(ours) - 1))
        f, tf = ops[data.draw(st.integers(0, len(ops) - 1))]
        ours.append(f(ours[i], ours[j]))
        theirs.append(tf(theirs[i], theirs[j]))
    g = np.random.default_rng(7).standard_normal((2, 3))
    if not ours[-1].requires_grad:
        return
    ours[-1].backward(g)
    theirs[-1].backward(torch.tensor(g))
    np.testing.assert_allclose(ours[0].grad, theirs[0].grad.numpy(), rtol=1e-9, atol=1e-12)


def test_a_leaf_gradient_goes_into_its_grad_buffer_and_accumulates_there():
    """A leaf with a ``grad_buffer`` (an optimizer's flat buffer) gets its first gradient
    copied in and later ones added in place; one that does not fit is left alone."""
    x = Tensor(np.ones(3), requires_grad=True)
    x.grad_buffer = buffer = np.full(3, 99.0)
    (x * np.array([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad is buffer
    np.testing.assert_array_equal(buffer, [1.0, 2.0, 3.0])
    (x * 2.0).sum().backward()  # accumulates in place
    assert x.grad is buffer
    np.testing.assert_array_equal(buffer, [3.0, 4.0, 5.0])
    y = Tensor(np.ones(3), requires_grad=True)
    y.grad_buffer = np.zeros(3, np.float32)  # another dtype: a new array, the buffer untouched
    (y * 2.0).sum().backward()
    assert y.grad is not y.grad_buffer and y.grad.dtype == np.float64
    assert not y.grad_buffer.any()
