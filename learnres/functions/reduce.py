"""Reductions over axes: sum, mean, max (with ``keepdims``)."""

from __future__ import annotations

import math

from learnres.autograd.function import Function
from learnres.backend import get_array_module

__all__ = ["Sum", "sum", "Mean", "mean", "Max", "max"]


def _normalize_axis(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim if ndim else a for a in axes)


def _keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    """The output shape with ``keepdims=True``: reduced axes become 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.axes = _normalize_axis(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        # dL/dx = gy broadcast back over the summed axes
        xp = get_array_module(gy)
        gy = gy.reshape(_keepdims_shape(self.shape, self.axes))
        return (xp.broadcast_to(gy, self.shape),)


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple, or None for all)."""
    return Sum(axis, keepdims)(x)


class Mean(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.axes = _normalize_axis(self.axis, x.ndim)
        self.count = math.prod(x.shape[a] for a in self.axes)
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        # dL/dx = gy / n broadcast back over the n averaged elements
        xp = get_array_module(gy)
        gy = gy.reshape(_keepdims_shape(self.shape, self.axes)) / self.count
        return (xp.broadcast_to(gy, self.shape),)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (an int, a tuple, or None for all)."""
    return Mean(axis, keepdims)(x)


class Max(Function):
    """Maximum over axes; ties share the gradient equally (as ``torch.amax``)."""

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x = x
        self.axes = _normalize_axis(self.axis, x.ndim)
        self.y = x.max(axis=self.axes, keepdims=True)
        return (
            self.y
            if self.keepdims
            else self.y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in self.axes))
        )

    def backward(self, gy):
        # dL/dx = gy * [x == max] / (number of maxima)
        mask = self.x == self.y
        gy = gy.reshape(self.y.shape)
        return (gy * mask / mask.sum(axis=self.axes, keepdims=True).astype(gy.dtype),)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; gradient split equally among tied maxima."""
    return Max(axis, keepdims)(x)
