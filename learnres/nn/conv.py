"""``Conv2d``: the layer around ``learnres.functions.conv.conv2d``."""

from __future__ import annotations

import math

import numpy as np

from learnres.nn import init
from learnres.nn._checks import as_pair, check_bool_arg, check_int_arg
from learnres.nn.module import Module
from learnres.nn.parameter import Parameter
from learnres.parallel import conv2d

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution over an (N, C, H, W) batch.

    Shapes: x (N, in_channels, H, W) -> y (N, out_channels, Ho, Wo) with
    Ho = (H + 2*padding - kernel_size) // stride + 1 (likewise Wo); ``weight``
    (out_channels, in_channels, kh, kw), ``bias`` (out_channels,).

    ``kernel_size``, ``stride`` and ``padding`` are an int or an (h, w) pair.

    Initialisation (torch's default): ``kaiming_uniform_(weight, a=sqrt(5))``, i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels*kh*kw, and the bias from the
    same range. ResNets re-initialise the weights with ``kaiming_normal_`` (He et al. 2015).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        bias: bool = True,
    ):
        super().__init__()
        check_int_arg("Conv2d", "in_channels", in_channels)
        check_int_arg("Conv2d", "out_channels", out_channels)
        check_int_arg("Conv2d", "kernel_size", kernel_size, pair=True)
        check_int_arg("Conv2d", "stride", stride, pair=True)
        check_int_arg("Conv2d", "padding", padding, low=0, pair=True)
        check_bool_arg("Conv2d", "bias", bias)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        shape = (out_channels, in_channels, *as_pair(kernel_size))
        self.weight = Parameter(np.empty(shape, dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        # the op checks x (layout, channels, dtype, size) and names this layer if it must refuse
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, layer=self._name())

    def _name(self) -> str:
        return f"Conv2d({self.in_channels}→{self.out_channels})"

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != 0 and self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text
