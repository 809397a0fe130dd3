"""Small layers: ``Identity``, ``Flatten``, ``Linear`` (the paper's final fully-connected
layer), ``ReLU`` and ``Dropout`` (VGG's fully connected layers; the ResNets use none)."""

from __future__ import annotations

import math

import numpy as np

from learnres.autograd.function import OpError
from learnres.backend import device_of, to_device
from learnres.functions.elementwise import mul, relu
from learnres.functions.linear import linear
from learnres.functions.shape import reshape
from learnres.nn import init
from learnres.nn._checks import check_bool_arg, check_int_arg
from learnres.nn.module import Module
from learnres.nn.parameter import Parameter

__all__ = ["Identity", "Flatten", "Linear", "ReLU", "Dropout"]


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

    Shapes: x (*, in_features) -> y (*, out_features); ``weight`` (out_features,
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
        # the op checks x (features, dtype) and names this layer if it must refuse
        return linear(x, self.weight, self.bias, layer=self._name())

    def _name(self) -> str:
        return f"Linear({self.in_features}→{self.out_features})"

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class ReLU(Module):
    """relu(x) = max(x, 0), elementwise."""

    def forward(self, x):
        return relu(x)


class Dropout(Module):
    """Inverted dropout (Srivastava et al., 2014): in training mode each value is zeroed with
    probability ``p`` and the others are scaled by 1 / (1 - p), so the expected output is the
    input; in evaluation mode the layer is the identity. VGG (Simonyan & Zisserman, 2015)
    uses p = 0.5 on its first two fully connected layers; the ResNets use none.

        y = x * mask,   mask = keep / (1 - p),   keep ~ Bernoulli(1 - p) elementwise

    (the gradient, dL/dx = dL/dy * mask, is the multiplication's).

    The masks come from the layer's own generator ``rng``, seeded from ``learnres.nn.init``'s
    generator when the layer is built (``init.manual_seed`` makes them reproducible) and
    drawn on the CPU. A copy of ``rng`` draws the same masks: that is how the PyTorch twin
    (``learnres.reference``) checks a training step with dropout exactly. The generator is
    not part of the ``state_dict``.

    Shapes: any -> the same.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be between 0 and 1, got p={p!r}")
        self.p = float(p)
        self.rng = init.spawn_rng()

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = self.rng.random(x.shape) >= self.p  # on the CPU, as the initialisers draw
        scale = 1.0 / (1.0 - self.p) if self.p < 1.0 else 0.0
        mask = to_device((keep * scale).astype(x.dtype), device_of(x.data))
        return mul(x, mask)

    def extra_repr(self) -> str:
        return f"p={self.p}"
