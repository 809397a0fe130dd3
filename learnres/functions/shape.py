"""Ops that move values around without arithmetic: reshape, transpose, broadcast_to,
pad, getitem, concatenate. Each backward moves the gradient back the same way."""

from __future__ import annotations

import numpy as np

from learnres.autograd.function import Function, OpError
from learnres.backend import get_array_module, scatter_add

__all__ = [
    "Reshape", "reshape", "Transpose", "transpose", "BroadcastTo", "broadcast_to",
    "Pad", "pad", "GetItem", "getitem", "Concatenate", "concatenate",
]  # fmt: skip


class Reshape(Function):
    def __init__(self, shape):
        self.shape = tuple(shape) if not isinstance(shape, int) else (shape,)

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        # dL/dx = gy reshaped back
        return (gy.reshape(self.x_shape),)


def reshape(x, shape):
    """The same values in a new shape (one entry may be -1)."""
    return Reshape(shape)(x)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = None if axes is None else tuple(axes)

    def forward(self, x):
        self.axes = self.axes or tuple(reversed(range(x.ndim)))
        if sorted(a % x.ndim for a in self.axes) != list(range(x.ndim)):
            raise OpError(f"transpose: axes {self.axes} are not a permutation of {x.ndim} axes")
        return x.transpose(self.axes)

    def backward(self, gy):
        # dL/dx = gy permuted by the inverse permutation
        inverse = np.argsort([a % gy.ndim for a in self.axes])
        return (gy.transpose(tuple(inverse)),)


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None); ``permute`` in torch."""
    return Transpose(axes)(x)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.x_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        from learnres.functions.elementwise import sum_to

        # dL/dx = gy summed over the broadcast axes
        return (sum_to(gy, self.x_shape),)


def broadcast_to(x, shape):
    """``x`` repeated along size-1 (or new leading) axes to ``shape``."""
    return BroadcastTo(shape)(x)


class Pad(Function):
    def __init__(self, pad_width, value=0.0):
        self.pad_width, self.value = pad_width, value

    def forward(self, x):
        xp = get_array_module(x)
        self.pad_width = _pairs(self.pad_width, x.ndim)
        return xp.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, gy):
        # dL/dx = gy with the padded border cut off
        window = tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.pad_width, gy.shape))
        return (gy[window],)


def _pairs(pad_width, ndim):
    pairs = np.broadcast_to(np.asarray(pad_width, dtype=int), (ndim, 2))
    if (pairs < 0).any():
        raise OpError(f"pad: widths must be >= 0, got {pad_width}")
    return tuple((int(lo), int(hi)) for lo, hi in pairs)


def pad(x, pad_width, value=0.0):
    """Constant padding; ``pad_width`` as in ``numpy.pad``: ((before, after), ...) per axis."""
    return Pad(pad_width, value)(x)


class GetItem(Function):
    def __init__(self, key):
        self.key = key

    def forward(self, x):
        self.x_shape, self.dtype = x.shape, x.dtype
        return x[self.key]

    def backward(self, gy):
        # dL/dx = gy scattered back into zeros (added where an index repeats)
        xp = get_array_module(gy)
        gx = xp.zeros(self.x_shape, dtype=self.dtype)
        if _is_basic(self.key):
            gx[self.key] = gy
        else:
            scatter_add(gx, self.key, gy)
        return (gx,)


def _is_basic(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, slice)) for k in keys)


def getitem(x, key):
    """``x[key]``: slices, integers, ``None``, ``...`` and integer index arrays."""
    from learnres.autograd.tensor import Tensor

    if isinstance(key, Tensor):
        key = key.data
    return GetItem(key)(x)


class Concatenate(Function):
    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        # dL/dx_i = the slice of gy that x_i filled
        bounds = np.cumsum(self.sizes)[:-1].tolist()
        return tuple(get_array_module(gy).split(gy, bounds, axis=self.axis))


def concatenate(xs, axis=0):
    """Join tensors along an existing axis (``torch.cat``)."""
    xs = list(xs)
    if not xs:
        raise OpError("concatenate: expected at least one tensor, got none")
    return Concatenate(axis)(*xs)
