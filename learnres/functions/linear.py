"""The fully connected layer's op: y = x W^T + b (the paper's final "fc" layer, Table 1)."""

from __future__ import annotations

import math

from learnres.autograd.function import Function, OpError
from learnres.functions._checks import check_channels, check_dtype

__all__ = ["Linear", "linear"]


class Linear(Function):
    """y = x @ W.T + b for x (*, in), W (out, in), b (out,) -> y (*, out).

    The math only: ``linear`` checks the input (``_check_linear``) before this runs."""

    def forward(self, x, w, b=None):
        self.x_shape, self.w, self.has_bias = x.shape, w, b is not None
        M = math.prod(x.shape[:-1])  # the leading axes as one (M, not -1: in may be 0)
        self.x = x.reshape(M, w.shape[1])  # (*, in) -> (M, in)
        y = self.x @ w.T  # (M, in) @ (in, out) -> (M, out)
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],))  # (M, out) -> (*, out)

    def backward(self, gy):
        # dL/dx = gy @ W, dL/dW = gy^T @ x, dL/db = sum of gy over the batch
        gy = gy.reshape(self.x.shape[0], self.w.shape[0])  # (*, out) -> (M, out)
        gx = None
        if self.needs_input_grad[0]:
            gx = (gy @ self.w).reshape(self.x_shape)  # (M, out) @ (out, in) -> (*, in)
        gw = gy.T @ self.x if self.needs_input_grad[1] else None  # (out, M) @ (M, in)
        if not self.has_bias:
            return gx, gw
        return gx, gw, gy.sum(axis=0) if self.needs_input_grad[2] else None


def _check_linear(x, w, b, layer=None) -> None:
    """The input of ``linear``, checked once before it runs: x (*, in) with the in features
    and the dtype of W (out, in) and b (out,). Errors name ``layer`` when a layer called."""
    name = layer or "linear"
    if w.ndim != 2:
        raise OpError(f"{name} expects weight of shape (out_features, in_features), got {w.shape}")
    if x.ndim < 1:
        raise OpError(f"{name} expects input of shape (*, {w.shape[1]}), got a scalar")
    check_channels(name, x, w.shape[1], f"weight shape {tuple(w.shape)}", "features", axis=-1)
    if b is not None and b.shape != (w.shape[0],):
        raise OpError(f"{name} expects bias of shape ({w.shape[0]},), got shape {b.shape}")
    check_dtype(name, x, {"weight": w, "bias": b}, layer=layer is not None)


def linear(x, weight, bias=None, *, layer=None):
    """Fully connected layer: x (*, in) @ weight.T (in, out) + bias (out,) -> (*, out), as
    torch.nn.functional.linear: every leading axis of x is a batch axis.

    A fused primitive (one node instead of matmul, transpose and add); the tests check it
    against the composition of those primitives. ``layer``: the name of the layer that
    calls (``Linear(512→10)``), which errors name instead of the op.
    """
    _check_linear(x, weight, bias, layer)
    return Linear()(x, weight) if bias is None else Linear()(x, weight, bias)
