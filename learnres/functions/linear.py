"""The fully connected layer's op: y = x W^T + b (the paper's final "fc" layer, Table 1)."""

from __future__ import annotations

from learnres.autograd.function import Function, OpError

__all__ = ["Linear", "linear"]


class Linear(Function):
    """y = x @ W.T + b for x (N, in), W (out, in), b (out,) -> y (N, out)."""

    def forward(self, x, w, b=None):
        _check_linear(x, w, b)
        self.x, self.w, self.has_bias = x, w, b is not None
        y = x @ w.T  # (N, in) @ (in, out) -> (N, out)
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        # dL/dx = gy @ W, dL/dW = gy^T @ x, dL/db = sum of gy over the batch
        gx = gy @ self.w if self.needs_input_grad[0] else None  # (N, out) @ (out, in)
        gw = gy.T @ self.x if self.needs_input_grad[1] else None  # (out, N) @ (N, in)
        if not self.has_bias:
            return gx, gw
        return gx, gw, gy.sum(axis=0) if self.needs_input_grad[2] else None


def _check_linear(x, w, b) -> None:
    if x.ndim != 2:
        raise OpError(f"linear: expected input (N, in_features), got shape {x.shape}")
    if w.ndim != 2:
        raise OpError(f"linear: expected weight (out_features, in_features), got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise OpError(
            f"linear: input has {x.shape[1]} features, weight expects {w.shape[1]} "
            f"(weight shape {w.shape})"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise OpError(f"linear: expected bias of shape ({w.shape[0]},), got {b.shape}")
    if len({a.dtype for a in (x, w, b) if a is not None}) > 1:
        raise OpError(
            f"linear: input, weight and bias must share a dtype, got "
            f"{', '.join(str(a.dtype) for a in (x, w, b) if a is not None)}; convert with .astype()"
        )


def linear(x, weight, bias=None):
    """Fully connected layer: x (N, in) @ weight.T (in, out) + bias (out,) -> (N, out).

    A fused primitive (one node instead of matmul, transpose and add); the tests check it
    against the composition of those primitives.
    """
    return Linear()(x, weight) if bias is None else Linear()(x, weight, bias)
