"""Matrix product, batched over leading axes with broadcasting."""

from __future__ import annotations

from learnres.autograd.function import Function, OpError
from learnres.functions.elementwise import sum_to
from learnres.functions.shape import reshape

__all__ = ["MatMul", "matmul"]


class MatMul(Function):
    """a @ b for a of shape (..., n, k) and b of shape (..., k, m) -> (..., n, m)."""

    def forward(self, a, b):
        if a.shape[-1] != b.shape[-2]:
            raise OpError(
                f"matmul: inner dimensions differ: a is {a.shape} (k={a.shape[-1]}), "
                f"b is {b.shape} (k={b.shape[-2]})"
            )
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        # dL/da = gy @ b^T, dL/db = a^T @ gy (summed over broadcast batch axes)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(gy @ self.b.swapaxes(-1, -2), self.a.shape)
        if self.needs_input_grad[1]:
            gb = sum_to(self.a.swapaxes(-1, -2) @ gy, self.b.shape)
        return ga, gb


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are promoted and squeezed back."""
    from learnres.autograd.tensor import as_tensor

    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise OpError(f"matmul: operands must have >= 1 dimension, got {a.shape} and {b.shape}")
    a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a  # (k,) -> (1, k)
    b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b  # (k,) -> (k, 1)
    y = MatMul()(a2, b2)
    if a.ndim == 1 or b.ndim == 1:  # drop the promoted axes again
        rows = (y.shape[-2],) if a.ndim > 1 else ()  # no row axis when a was (k,)
        cols = (y.shape[-1],) if b.ndim > 1 else ()  # no column axis when b was (k,)
        shape = y.shape[:-2] + rows + cols
        y = reshape(y, shape)
    return y
