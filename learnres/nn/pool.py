"""Pooling layers around ``learnres.functions.pool``: ``MaxPool2d`` (the 3x3, stride-2 pool
after the ImageNet stem), ``AvgPool2d`` and ``AdaptiveAvgPool2d(1)`` (global average pooling
before the classifier, Sec. 3.4 of the paper; other output sizes, e.g. VGG's 7x7, too)."""

from __future__ import annotations

import numpy as np

from learnres.backend import device_of, to_device
from learnres.functions._checks import check_images
from learnres.functions.matmul import matmul
from learnres.functions.pool import global_avg_pool2d
from learnres.nn._checks import as_pair, check_int_arg
from learnres.nn.module import Module
from learnres.parallel import avg_pool2d, max_pool2d

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "adaptive_pool_matrix"]


class _Pool2d(Module):
    """Shared by MaxPool2d and AvgPool2d: ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        check_int_arg(name, "kernel_size", kernel_size, pair=True)
        if stride is not None:
            check_int_arg(name, "stride", stride, pair=True)
        check_int_arg(name, "padding", padding, low=0, pair=True)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        kernel, pad = as_pair(kernel_size), as_pair(padding)
        if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
            raise ValueError(
                f"{type(self).__name__}(kernel_size={kernel_size}): padding must be at most half "
                f"the kernel size, got padding={padding}"
            )

    def _name(self) -> str:
        """The layer as it was written: ``MaxPool2d(kernel_size=3, stride=2, padding=1)``,
        with the stride and the padding only where they are not their defaults."""
        text = f"{type(self).__name__}(kernel_size={self.kernel_size}"
        if self.stride != self.kernel_size:
            text += f", stride={self.stride}"
        if as_pair(self.padding) != (0, 0):
            text += f", padding={self.padding}"
        return text + ")"

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum over each kernel_size window (padding counts as -inf).

    Shapes: (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*padding - kernel_size) // stride + 1.
    """

    def forward(self, x):  # the op checks x and names this layer if it must refuse
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, layer=self._name())


class AvgPool2d(_Pool2d):
    """The mean over each kernel_size window (padding zeros are counted, as torch's default
    ``count_include_pad=True``).

    Shapes: (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*padding - kernel_size) // stride + 1.
    """

    def forward(self, x):  # the op checks x and names this layer if it must refuse
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, layer=self._name())


def adaptive_pool_matrix(size: int, output_size: int) -> np.ndarray:
    """The (output_size, size) matrix A whose row i averages bin i of an axis of ``size``
    values, torch's bins: rows floor(i * size / out) .. ceil((i + 1) * size / out) - 1.

    Bins may overlap (7 bins over 2 values: each value is read by several bins) and an
    output larger than the input repeats values; when ``size == output_size`` A is the
    identity.

    >>> adaptive_pool_matrix(4, 2)
    array([[0.5, 0.5, 0. , 0. ],
           [0. , 0. , 0.5, 0.5]])
    """
    matrix = np.zeros((output_size, size))
    for i in range(output_size):
        start = (i * size) // output_size
        end = -(-((i + 1) * size) // output_size)  # ceil
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size: (N, C, H, W) -> (N, C, oh, ow).

    ``output_size=1`` is global average pooling (Sec. 3.4 of the paper: the ResNets'
    classifier input). Other sizes average torch's bins (``adaptive_pool_matrix``); VGG's
    ``AdaptiveAvgPool2d((7, 7))`` lets torchvision's VGG take inputs other than 224x224
    (at 224x224 its input is already 7x7 and it changes nothing).

    Averaging bins is linear in each spatial axis, so the layer is two matrix products,
    out = A_h x A_w^T (A_h of shape (oh, H), A_w of shape (ow, W)), and its gradient is
    that of the matrix products: dL/dx = A_h^T (dL/dout) A_w.
    """

    def __init__(self, output_size=1):
        super().__init__()
        size = as_pair(output_size) if isinstance(output_size, (int, tuple, list)) else None
        if size is None or len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
            raise ValueError(
                f"AdaptiveAvgPool2d takes output_size as a positive int or a pair of them "
                f"(1: global average pooling; (7, 7): VGG), got output_size={output_size!r}"
            )
        self.output_size = output_size

    def forward(self, x):
        oh, ow = as_pair(self.output_size)
        if (oh, ow) == (1, 1):  # the op checks x and names this layer if it must refuse
            return global_avg_pool2d(x, layer=repr(self))
        check_images(repr(self), x)  # what global_avg_pool2d checks: (N, C, H, W), H, W >= 1
        H, W = x.shape[2], x.shape[3]
        a_h = self._matrix(H, oh, x)  # (oh, H)
        a_w_t = self._matrix(W, ow, x).T  # (W, ow)
        out = matmul(a_h, x)  # (oh, H) @ (N, C, H, W) -> (N, C, oh, W)
        return matmul(out, a_w_t)  # (N, C, oh, W) @ (W, ow) -> (N, C, oh, ow)

    @staticmethod
    def _matrix(size: int, output_size: int, like):
        """``adaptive_pool_matrix`` in the dtype and on the device of ``like``."""
        matrix = adaptive_pool_matrix(size, output_size).astype(like.dtype)
        return to_device(matrix, device_of(like.data))

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
