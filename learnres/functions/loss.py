"""Softmax, log-softmax and the fused, numerically stable cross-entropy loss.

All three subtract the row maximum before exponentiating, so ``exp`` never overflows:
softmax(x) = softmax(x - max(x)).
"""

from __future__ import annotations

import numpy as np

from learnres.autograd.function import Function, OpError
from learnres.backend import check_later, device_of, get_array_module

__all__ = ["Softmax", "softmax", "LogSoftmax", "log_softmax", "CrossEntropy", "cross_entropy"]


def _log_softmax(x, axis):
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, gy):
        # dL/dx = y * (gy - sum(gy * y))
        y = self.y
        return (y * (gy - (gy * y).sum(axis=self.axis, keepdims=True)),)


def softmax(x, axis=-1):
    """exp(x_i) / sum_j exp(x_j) along ``axis``."""
    return Softmax(axis)(x)


class LogSoftmax(Function):
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        self.y = _log_softmax(x, self.axis)
        return self.y

    def backward(self, gy):
        # dL/dx = gy - softmax(x) * sum(gy)
        xp = get_array_module(gy)
        return (gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True),)


def log_softmax(x, axis=-1):
    """x_i - log sum_j exp(x_j) along ``axis``, computed stably."""
    return LogSoftmax(axis)(x)


class CrossEntropy(Function):
    """Mean over the batch of -log softmax(logits)[n, target[n]]."""

    def __init__(self, target):
        self.target = target

    def forward(self, logits):
        xp = get_array_module(logits)
        n = logits.shape[0]
        logp = _log_softmax(logits, axis=1)  # (N, C)
        self.p = xp.exp(logp)
        return -logp[xp.arange(n), self.target].mean()

    def backward(self, gy):
        # dL/dlogits = gy * (softmax(logits) - onehot(target)) / N
        xp = get_array_module(gy)
        n = self.p.shape[0]
        gx = self.p.copy()
        gx[xp.arange(n), self.target] -= 1
        return (gx * (gy / n),)


def cross_entropy(logits, target):
    """Cross-entropy of ``logits`` (N, C) against integer class labels ``target`` (N,).

    L = -(1/N) sum_n log softmax(logits_n)[target_n]; gradient (softmax - onehot) / N.
    """
    from learnres.autograd.tensor import Tensor, as_tensor

    logits = as_tensor(logits)
    target = target.data if isinstance(target, Tensor) else target
    xp = get_array_module(logits.data)
    if device_of(target) != logits.device and not isinstance(target, (list, tuple)):
        raise OpError(f"cross_entropy: logits on {logits.device}, target on {device_of(target)}")
    target = xp.asarray(target)
    if logits.ndim != 2:
        raise OpError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
    if logits.shape[0] == 0:  # the mean over no samples would be NaN
        raise OpError(
            f"cross_entropy: expected at least one sample (N >= 1), got logits of shape "
            f"{logits.shape}"
        )
    if target.dtype.kind not in "iu":
        raise OpError(f"cross_entropy: target must hold integer class labels, got {target.dtype}")
    if target.shape != logits.shape[:1]:
        raise OpError(
            f"cross_entropy: target must have shape ({logits.shape[0]},) for logits "
            f"{logits.shape}, got {target.shape}"
        )
    C = logits.shape[1]
    if target.size and xp is np and (target.min() < 0 or target.max() >= C):
        raise OpError(
            f"cross_entropy: labels must lie in [0, {C}), got "
            f"min {int(target.min())}, max {int(target.max())}"
        )
    if target.size and xp is not np:  # checked on the GPU: reading it now would make the
        # host wait for the GPU; the answer is read with the next value read back
        outside = ((target < 0) | (target >= C)).any()
        check_later(
            outside,
            OpError(
                f"cross_entropy: labels must lie in [0, {C}), got a "
                "label outside it (checked on the GPU and reported at "
                "the first read-back after the call)"
            ),
        )
    return CrossEntropy(target)(logits)
