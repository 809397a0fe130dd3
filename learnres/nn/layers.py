"""Small layers: ``Identity``, ``Flatten``, ``Linear`` (the paper's final fully-connected
layer) and ``ReLU``."""

from __future__ import annotations

import math

import numpy as np

from learnres.autograd.function import OpError
from learnres.functions.elementwise import relu
from learnres.functions.linear import linear
from learnres.functions.shape import reshape
from learnres.nn import init
from learnres.nn._checks import check_bool_arg, check_channels, check_dtype, check_int_arg
from learnres.nn.module import Module
from learnres.nn.parameter import Parameter

__all__ = ["Identity", "Flatten", "Linear", "ReLU"]


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a shortcut with nothing to do)."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merges axes ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        check_int_arg("Flatten", "start_dim", start_dim, low=-(2**31))
        check_int_arg("Flatten", "end_dim", end_dim, low=-(2**31))
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        start, end = self.start_dim % max(x.ndim, 1), self.end_dim % max(x.ndim, 1)
        if x.ndim == 0 or start > end:
            raise OpError(f"{self!r} cannot flatten input of shape {tuple(x.shape)}")
        shape = x.shape[:start] + (math.prod(x.shape[start : end + 1]),) + x.shape[end + 1 :]
        return reshape(x, shape)  # (N, C, H, W) -> (N, C*H*W) for the defaults

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Linear(Module):
    """y = x W^T + b.

    Shapes: x (N, *, in_features) -> y (N, *, out_features); ``weight`` (out_features,
    in_features), ``bias`` (out_features,).

    Initialisation (torch's default): weight ~ U(-1/sqrt(in), 1/sqrt(in)) through
    ``kaiming_uniform_(a=sqrt(5))``, bias ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        check_int_arg("Linear", "in_features", in_features, low=0)
        check_int_arg("Linear", "out_features", out_features, low=0)
        check_bool_arg("Linear", "bias", bias)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.ndim < 1:
            raise OpError(f"{self._name()} expects (N, {self.in_features}), got a scalar")
        check_channels(self._name(), x, self.in_features, what="features", axis=-1)
        check_dtype(self._name(), x, self.weight)
        if x.ndim == 2:
            return linear(x, self.weight, self.bias)
        # the linear op takes (N, in): flatten the leading axes and restore them after
        flat = reshape(x, (-1, self.in_features))  # (..., in) -> (M, in)
        y = linear(flat, self.weight, self.bias)  # (M, out)
        return reshape(y, x.shape[:-1] + (self.out_features,))  # (M, out) -> (..., out)

    def _name(self) -> str:
        return f"Linear({self.in_features}→{self.out_features})"

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"  # fmt: skip


class ReLU(Module):
    """relu(x) = max(x, 0), elementwise."""

    def forward(self, x):
        return relu(x)
