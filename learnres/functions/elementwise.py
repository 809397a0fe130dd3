"""Elementwise ops: arithmetic with broadcasting, exp/log/sqrt, and the activations.

Broadcasting in forward means summing in backward: if ``x`` of shape (1, 4) was stretched to
(3, 4), its gradient is ``gy.sum(axis=0, keepdims=True)``. ``sum_to`` does that for every op.
"""

from __future__ import annotations

import numpy as np

from learnres.autograd.function import Function, OpError
from learnres.backend import get_array_module

__all__ = [
    "sum_to",
    "Add", "add", "Sub", "sub", "Mul", "mul", "Div", "div", "Neg", "neg", "Pow", "pow",
    "Exp", "exp", "Log", "log", "Sqrt", "sqrt",
    "ReLU", "relu", "Sigmoid", "sigmoid", "Tanh", "tanh",
]  # fmt: skip


def sum_to(g, shape: tuple):
    """Sum ``g`` over the axes broadcasting added or stretched, so that it has ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)  # axes broadcasting added in front
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    g = g.sum(axis=tuple(range(lead)) + stretched, keepdims=True)
    return g.reshape(shape)  # (1, ..., 1, *shape) -> shape


class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, gy):
        # dL/da = gy, dL/db = gy (summed over broadcast axes)
        a_shape, b_shape = self.shapes
        ga = sum_to(gy, a_shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy, b_shape) if self.needs_input_grad[1] else None
        return ga, gb


def add(a, b):
    """a + b, broadcasting."""
    return Add()(a, b)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, gy):
        # dL/da = gy, dL/db = -gy
        a_shape, b_shape = self.shapes
        ga = sum_to(gy, a_shape) if self.needs_input_grad[0] else None
        gb = sum_to(-gy, b_shape) if self.needs_input_grad[1] else None
        return ga, gb


def sub(a, b):
    """a - b, broadcasting."""
    return Sub()(a, b)


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        # dL/da = gy * b, dL/db = gy * a
        ga = sum_to(gy * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def mul(a, b):
    """a * b, broadcasting."""
    return Mul()(a, b)


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        # dL/da = gy / b, dL/db = -gy * a / b^2
        ga = sum_to(gy / self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = (
            sum_to(-gy * self.a / (self.b * self.b), self.b.shape)
            if self.needs_input_grad[1]
            else None
        )
        return ga, gb


def div(a, b):
    """a / b, broadcasting."""
    return Div()(a, b)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        # dL/dx = -gy
        return (-gy,)


def neg(x):
    """-x."""
    return Neg()(x)


class Pow(Function):
    def __init__(self, c: float):
        self.c = c

    def forward(self, x):
        self.x = x
        return x**self.c

    def backward(self, gy):
        # dL/dx = gy * c * x^(c-1)
        return (gy * (self.c * self.x ** (self.c - 1)),)


def pow(x, c):
    """x ** c for a Python number ``c`` (the exponent is not differentiated)."""
    if isinstance(c, np.generic) and c.dtype.kind in "iuf":
        c = c.item()  # a NumPy scalar is a plain number here
    if isinstance(c, bool) or not isinstance(c, (int, float)):
        raise OpError(f"pow: the exponent must be a number, got {type(c).__name__}")
    return Pow(c)(x)


class Exp(Function):
    def forward(self, x):
        self.y = get_array_module(x).exp(x)
        return self.y

    def backward(self, gy):
        # dL/dx = gy * exp(x) = gy * y
        return (gy * self.y,)


def exp(x):
    """e ** x."""
    return Exp()(x)


class Log(Function):
    def forward(self, x):
        self.x = x
        return get_array_module(x).log(x)

    def backward(self, gy):
        # dL/dx = gy / x
        return (gy / self.x,)


def log(x):
    """Natural logarithm."""
    return Log()(x)


class Sqrt(Function):
    def forward(self, x):
        self.y = get_array_module(x).sqrt(x)
        return self.y

    def backward(self, gy):
        # dL/dx = gy / (2 sqrt(x)) = gy / (2 y)
        return (gy / (2 * self.y),)


def sqrt(x):
    """Square root."""
    return Sqrt()(x)


class ReLU(Function):
    def forward(self, x):
        self.y = get_array_module(x).maximum(x, 0)
        return self.y

    def backward(self, gy):
        # dL/dx = gy * [x > 0]   (0 at x = 0, as torch)
        return (gy * (self.y > 0),)


def relu(x):
    """max(x, 0)."""
    return ReLU()(x)


class Sigmoid(Function):
    def forward(self, x):
        xp = get_array_module(x)
        self.y = 0.5 * (xp.tanh(0.5 * x) + 1)  # = 1 / (1 + e^-x), without overflow
        return self.y

    def backward(self, gy):
        # dL/dx = gy * y * (1 - y)
        return (gy * self.y * (1 - self.y),)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return Sigmoid()(x)


class Tanh(Function):
    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, gy):
        # dL/dx = gy * (1 - y^2)
        return (gy * (1 - self.y * self.y),)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh()(x)
