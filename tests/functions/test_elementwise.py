"""Elementwise ops against torch, with broadcasting and size-1 dimensions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

from learnres import Tensor
from learnres import functions as F
from learnres.functions.elementwise import sum_to
from tests.functions.harness import check_op, random_inputs

# name -> (learnres fn, torch fn, needs positive inputs)
BINARY = {
    "add": (F.add, torch.add, False),
    "sub": (F.sub, torch.sub, False),
    "mul": (F.mul, torch.mul, False),
    "div": (F.div, torch.div, True),
}
UNARY = {
    "neg": (F.neg, torch.neg, False),
    "exp": (F.exp, torch.exp, False),
    "log": (F.log, torch.log, True),
    "sqrt": (F.sqrt, torch.sqrt, True),
    "relu": (F.relu, torch.relu, False),
    "sigmoid": (F.sigmoid, torch.sigmoid, False),
    "tanh": (F.tanh, torch.tanh, False),
    "pow2": (lambda x: F.pow(x, 2), lambda x: x**2, False),
    "pow-1.5": (lambda x: F.pow(x, -1.5), lambda x: x**-1.5, True),
    "pow0.5": (lambda x: x**0.5, lambda x: x**0.5, True),
}
BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((1,), (5, 1, 2)),
    ((), (2, 3)),
    ((2, 1, 1), (1,)),
]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary(op, shapes, device, dtype):
    fn, torch_fn, positive = BINARY[op]
    inputs = random_inputs(shapes, positive=positive)
    check_op(fn, torch_fn, inputs, device=device, dtype=dtype, name=op)


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 3), (2, 1, 4)], ids=str)
def test_unary(op, shape, device, dtype):
    fn, torch_fn, positive = UNARY[op]
    inputs = random_inputs([shape], positive=positive)
    check_op(fn, torch_fn, inputs, device=device, dtype=dtype, name=op)


@settings(max_examples=25, deadline=None)
@given(
    shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    op=st.sampled_from(sorted(BINARY)),
)
def test_binary_broadcasting_hypothesis(shapes, op):
    fn, torch_fn, positive = BINARY[op]
    inputs = random_inputs(shapes.input_shapes, positive=positive)
    check_op(fn, torch_fn, inputs, device="cpu", dtype=np.float64, name=op)


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "**"])
@pytest.mark.parametrize("scalar_first", [False, True])
def test_python_scalars_keep_float32(op, scalar_first):
    """NumPy 2 would promote float32 to float64 if a scalar became a 0-d float64 array."""
    x = Tensor(np.full((2, 3), 1.5, dtype=np.float32), requires_grad=True)
    if op == "**":
        y = x**2.0
    else:
        y = eval(f"2.0 {op} x") if scalar_first else eval(f"x {op} 2.0")
    assert y.dtype == np.float32
    y.backward(np.ones((2, 3), dtype=np.float32))
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "@"])
def test_arrays_on_either_side(op):
    a = np.arange(1.0, 7.0).reshape(2, 3) if op != "@" else np.arange(1.0, 10.0).reshape(3, 3)
    x = Tensor(a.copy(), requires_grad=True)  # noqa: F841 - the eval'd strings below use x
    left, right = eval(f"a {op} x"), eval(f"x {op} a")
    assert isinstance(left, Tensor) and isinstance(right, Tensor)
    np.testing.assert_allclose(left.data, eval(f"a {op} a"))
    np.testing.assert_allclose(right.data, eval(f"a {op} a"))


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("constant", [0, 1], ids=["a constant", "b constant"])
def test_a_constant_operand_gets_no_gradient_computed(op, constant):
    """Every binary op's backward skips an input that does not require grad (it returns None,
    as ``needs_input_grad`` says) and still gives the other input its gradient."""
    fn, _, positive = BINARY[op]
    arrays = random_inputs([(2, 3), (3,)], positive=positive)
    xs = [Tensor(x, requires_grad=i != constant) for i, x in enumerate(arrays)]
    y = fn(*xs)
    grads = y.creator.backward(np.ones(y.shape))
    assert grads[constant] is None
    assert grads[1 - constant].shape == xs[1 - constant].shape


def test_sum_to_undoes_broadcasting():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(sum_to(g, (3, 1)), g.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(sum_to(g, (4,)), g.sum(axis=(0, 1)))
    np.testing.assert_array_equal(sum_to(g, ()), g.sum())


def test_relu_gradient_at_zero_is_zero_like_torch():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    F.relu(x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_sigmoid_does_not_overflow():
    x = Tensor(np.array([-1000.0, 0.0, 1000.0], dtype=np.float32))
    with np.errstate(over="raise"):
        y = F.sigmoid(x)
    np.testing.assert_allclose(y.data, [0.0, 0.5, 1.0])
