"""Pooling layers around ``learnres.functions.pool``: ``MaxPool2d`` (the 3x3, stride-2 pool
after the ImageNet stem), ``AvgPool2d`` and ``AdaptiveAvgPool2d(1)`` (global average pooling
before the classifier, Sec. 3.4 of the paper)."""

from __future__ import annotations

from learnres.autograd.function import OpError
from learnres.functions.pool import global_avg_pool2d
from learnres.nn._checks import check_ndim, check_spatial_size
from learnres.nn.module import Module
from learnres.parallel import avg_pool2d, max_pool2d

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


class _Pool2d(Module):
    """Shared by MaxPool2d and AvgPool2d: ``stride`` defaults to ``kernel_size``."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        kernel, pad = _pair(kernel_size), _pair(padding)
        if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
            raise ValueError(
                f"{type(self).__name__}(kernel_size={kernel_size}): padding must be at most half "
                f"the kernel size, got padding={padding}"
            )

    def _check(self, x) -> None:
        name = type(self).__name__
        check_ndim(name, x, (4,))
        check_spatial_size(f"{name}(kernel_size={self.kernel_size})", x, self.kernel_size,
                           self.padding)  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum over each kernel_size window (padding counts as -inf).

    Shapes: (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*padding - kernel_size) // stride + 1.
    """

    def forward(self, x):
        self._check(x)
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """The mean over each kernel_size window (padding zeros are counted, as torch's default
    ``count_include_pad=True``).

    Shapes: (N, C, H, W) -> (N, C, Ho, Wo), Ho = (H + 2*padding - kernel_size) // stride + 1.
    """

    def forward(self, x):
        self._check(x)
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Global average pooling: (N, C, H, W) -> (N, C, 1, 1), the mean over H and W.

    Only ``output_size=1`` (or (1, 1)) is supported: it is the only size ResNets use.
    """

    def __init__(self, output_size=1):
        super().__init__()
        if output_size not in (1, (1, 1), [1, 1]):
            raise ValueError(
                f"AdaptiveAvgPool2d supports only output_size=1 (global average pooling), "
                f"got output_size={output_size!r}"
            )
        self.output_size = output_size

    def forward(self, x):
        check_ndim("AdaptiveAvgPool2d", x, (4,))
        if x.shape[2] == 0 or x.shape[3] == 0:
            raise OpError(f"AdaptiveAvgPool2d got an empty image (shape {tuple(x.shape)})")
        return global_avg_pool2d(x)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
