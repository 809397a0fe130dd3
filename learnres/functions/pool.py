"""Pooling over NCHW feature maps: max, average, and the global average of the paper.

Every pool here looks at the same windows as a convolution: window (i, j) of a
(padded) input covers rows ``s*i .. s*i + kh - 1`` and columns ``s*j .. s*j + kw - 1``.
Forward and backward loop over the kh*kw *offsets* inside a window (9 steps for 3x3), each
step touching every output at once through a strided slice, so overlapping windows
(stride < kernel) need no special case: their gradients simply add up. Max pooling keeps,
for each window, the index of its maximum (``argmax``) and sends the gradient there.

Each wrapper (``max_pool2d``, ...) checks its input once (``_check_pool``), then runs its
Function, which is the math only.

The paper's ImageNet ResNets (Table 1) use a 3x3 max pool with stride 2 after conv1 and a
global average pool before the fully connected layer; the CIFAR ResNets (section 4.2) use
only the global average pool.
"""

from __future__ import annotations

import numpy as np

from learnres.autograd.function import Function, OpError
from learnres.backend import get_array_module
from learnres.functions._checks import check_images, check_layout, check_window
from learnres.functions.conv import _pair

__all__ = [
    "MaxPool2d",
    "max_pool2d",
    "AvgPool2d",
    "avg_pool2d",
    "GlobalAvgPool2d",
    "global_avg_pool2d",
]


def _check_pool(op, x, kernel, padding, layer=None) -> None:
    """The input of a pool, checked once before it runs: x (N, C, H, W), at least as large
    as the kernel after padding. Errors name ``layer`` when a layer called, else ``op``."""
    name = layer or op
    check_layout(name, x, (4,))
    check_window(name, x, kernel, padding)


def _pad(x, ph, pw, value):
    """Pad the spatial axes with ``value``: (N, C, H, W) -> (N, C, H + 2ph, W + 2pw)."""
    if ph == 0 and pw == 0:
        return x
    xp = get_array_module(x)
    N, C, H, W = x.shape
    out = xp.full((N, C, H + 2 * ph, W + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph : ph + H, pw : pw + W] = x
    return out


def _output_size(x_pad, kernel, stride) -> tuple[int, int]:
    """(Ho, Wo) of a pool over a padded input (N, C, Hp, Wp): Ho = (Hp - kh) // sh + 1."""
    (kh, kw), (sh, sw) = kernel, stride
    return (x_pad.shape[2] - kh) // sh + 1, (x_pad.shape[3] - kw) // sw + 1


def _offset(u, v, shape, stride):
    """The slice of a padded input that offset (u, v) of every window reads: (.., Ho, Wo)."""
    (Ho, Wo), (sh, sw) = shape, stride
    return (
        slice(None),
        slice(None),
        slice(u, u + sh * (Ho - 1) + 1, sh),
        slice(v, v + sw * (Wo - 1) + 1, sw),
    )


def _options(name, kernel_size, stride, padding):
    """A pool's arguments as (h, w) pairs: ``stride`` defaults to the kernel, and padding may
    be at most half the kernel (a window wholly of padding would have no input in it)."""
    kernel = _pair(kernel_size, "kernel_size", name, 1)
    stride = kernel if stride is None else _pair(stride, "stride", name, 1)
    pad = _pair(padding, "padding", name, 0)
    if 2 * pad[0] > kernel[0] or 2 * pad[1] > kernel[1]:
        raise OpError(f"{name}: padding {pad} must be at most half the kernel {kernel}")
    return kernel, stride, pad


class MaxPool2d(Function):
    """y[n, c, i, j] = max of window (i, j) of x padded with -inf: (N, C, H, W) -> (N, C, Ho, Wo)"""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel, self.stride, self.padding = _options(
            "max_pool2d", kernel_size, stride, padding
        )

    def forward(self, x):
        xp = get_array_module(x)
        x_pad, (kh, kw) = _pad(x, *self.padding, value=-np.inf), self.kernel
        out = _output_size(x_pad, self.kernel, self.stride)
        # every window's kh*kw values along a last axis: (N, C, Ho, Wo, kh*kw)
        windows = xp.stack(
            [x_pad[_offset(k // kw, k % kw, out, self.stride)] for k in range(kh * kw)], axis=-1
        )
        self.argmax = windows.argmax(axis=-1)  # (N, C, Ho, Wo): the first maximum, as torch
        self.x_shape = x.shape
        return windows.max(axis=-1)

    def backward(self, gy):
        # dL/dx = gy routed to the position of each window's maximum (summed where windows overlap)
        xp = get_array_module(gy)
        (kh, kw), (ph, pw) = self.kernel, self.padding
        N, C, H, W = self.x_shape
        gx_pad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=gy.dtype)
        for k in range(kh * kw):  # offset k of every window: gy where the maximum was there
            gx_pad[_offset(k // kw, k % kw, gy.shape[2:], self.stride)] += xp.where(
                self.argmax == k, gy, 0
            )
        return (gx_pad[:, :, ph : ph + H, pw : pw + W],)


def max_pool2d(x, kernel_size, stride=None, padding=0, *, layer=None):
    """Max over kh x kw windows; ``stride`` defaults to ``kernel_size``; padding is -inf.

    (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*padding - kh) // stride + 1 (floor, as
    torch's default ceil_mode=False). The paper's ImageNet stem: ``max_pool2d(x, 3, 2, 1)``.
    ``layer``: the name of the layer that calls, which errors name instead of the op.
    """
    f = MaxPool2d(kernel_size, stride, padding)
    _check_pool("max_pool2d", x, f.kernel, f.padding, layer)
    return f(x)


class AvgPool2d(Function):
    """y[n, c, i, j] = mean of window (i, j) of x zero-padded (padding counts in the mean)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel, self.stride, self.padding = _options(
            "avg_pool2d", kernel_size, stride, padding
        )

    def forward(self, x):
        x_pad = _pad(x, *self.padding, value=0)
        out = _output_size(x_pad, self.kernel, self.stride)
        (kh, kw), self.x_shape = self.kernel, x.shape
        y = x_pad[_offset(0, 0, out, self.stride)].copy()
        for k in range(1, kh * kw):
            y += x_pad[_offset(k // kw, k % kw, out, self.stride)]
        y /= kh * kw  # a Python int: float32 stays float32
        return y

    def backward(self, gy):
        # dL/dx[p] = sum over the windows containing p of gy / (kh * kw)
        xp = get_array_module(gy)
        (kh, kw), (ph, pw) = self.kernel, self.padding
        N, C, H, W = self.x_shape
        gx_pad = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=gy.dtype)
        g = gy / (kh * kw)
        for k in range(kh * kw):
            gx_pad[_offset(k // kw, k % kw, gy.shape[2:], self.stride)] += g
        return (gx_pad[:, :, ph : ph + H, pw : pw + W],)


def avg_pool2d(x, kernel_size, stride=None, padding=0, *, layer=None):
    """Mean over kh x kw windows; ``stride`` defaults to ``kernel_size``.

    Zero padding counts in the mean (torch's default ``count_include_pad=True``), so every
    window divides by kh * kw. (N, C, H, W) -> (N, C, Ho, Wo) as in ``max_pool2d``;
    ``layer`` as there.
    """
    f = AvgPool2d(kernel_size, stride, padding)
    _check_pool("avg_pool2d", x, f.kernel, f.padding, layer)
    return f(x)


class GlobalAvgPool2d(Function):
    """y[n, c, 0, 0] = mean of x[n, c] over H and W: (N, C, H, W) -> (N, C, 1, 1)."""

    def forward(self, x):
        self.x_shape = x.shape
        N, C, H, W = x.shape
        return (
            x.reshape(N, C, H * W).mean(axis=2).reshape(N, C, 1, 1)
        )  # (N, C, H*W) -> (N, C, 1, 1)

    def backward(self, gy):
        # dL/dx[n, c, h, w] = gy[n, c] / (H * W)
        xp, (H, W) = get_array_module(gy), self.x_shape[2:]
        return (xp.broadcast_to(gy / (H * W), self.x_shape).copy(),)


def global_avg_pool2d(x, *, layer=None):
    """The paper's "global average pooling" before the classifier (section 3.4, 4.2).

    (N, C, H, W) -> (N, C, 1, 1), as torch's ``AdaptiveAvgPool2d(1)``; ``layer`` as in
    ``max_pool2d``.
    """
    check_images(layer or "global_avg_pool2d", x)
    return GlobalAvgPool2d()(x)
