"""Weight initialisation, shaped like ``torch.nn.init``: each function fills a Tensor (or
Parameter) in place and returns it.

The paper initialises "as in [13]" (He et al., 2015, *Delving Deep into Rectifiers*, Sec. 2.2):
zero-mean Gaussian weights with

    std = gain / sqrt(fan),   gain = sqrt(2 / (1 + a^2))   (sqrt(2) for ReLU, a = 0)

which keeps the variance of the activations (fan_in) or of the gradients (fan_out) the same
from layer to layer. ``kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`` is what
torchvision's ResNet uses.

Random numbers come from ``rng`` (a ``numpy.random.Generator``) when given, otherwise from a
module-level generator that ``manual_seed(seed)`` resets: after ``manual_seed(0)`` building
the same model gives the same weights. Values are drawn on the CPU in float64 and then cast
to the tensor's dtype and moved to its device.
"""

from __future__ import annotations

import math

import numpy as np

from learnres.autograd.tensor import Tensor
from learnres.backend import device_of, get_array_module, to_device

__all__ = [
    "manual_seed",
    "spawn_rng",
    "calculate_gain",
    "calculate_fan_in_and_fan_out",
    "constant_",
    "zeros_",
    "ones_",
    "normal_",
    "uniform_",
    "kaiming_normal_",
    "kaiming_uniform_",
]

_default_rng = np.random.default_rng(0)  # reset by manual_seed


def manual_seed(seed: int) -> None:
    """Reset the generator that initialisers use when no ``rng`` is passed."""
    global _default_rng
    _default_rng = np.random.default_rng(seed)


def spawn_rng() -> np.random.Generator:
    """A new generator seeded from the default one: a layer with randomness of its own
    (``Dropout``) is as reproducible after ``manual_seed`` as the weights."""
    return np.random.default_rng(_default_rng.integers(2**63))


def _fill(tensor: Tensor, values: np.ndarray) -> Tensor:
    """Copy ``values`` into ``tensor.data`` in place, in its dtype and on its device."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected a Tensor or Parameter, got {type(tensor).__name__}")
    values = to_device(np.asarray(values), device_of(tensor.data))
    tensor.data[...] = get_array_module(tensor.data).asarray(values, dtype=tensor.dtype)
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps the activation variance after ``nonlinearity``:
    1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + a^2)) for
    leaky_relu with negative slope ``a = param`` (default 0.01)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    raise ValueError(
        f"unknown nonlinearity {nonlinearity!r}: expected one of linear, conv2d, sigmoid, "
        "tanh, relu, leaky_relu"
    )


def calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: (in, out) for a Linear weight (out, in); for a Conv2d
    weight (out, in, kh, kw) each is multiplied by the receptive field kh * kw."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a tensor with >= 2 dimensions, got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, rng=None) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    rng = _default_rng if rng is None else rng
    return _fill(tensor, rng.normal(mean, std, size=tensor.shape))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, rng=None) -> Tensor:
    """Fill with samples of U(a, b)."""
    rng = _default_rng if rng is None else rng
    return _fill(tensor, rng.uniform(a, b, size=tensor.shape))


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None
) -> Tensor:
    """He initialisation, normal: N(0, std^2) with std = gain / sqrt(fan).

    Arguments:
        a: negative slope of the leaky ReLU that follows (0 for ReLU: gain sqrt(2)).
        mode: "fan_in" keeps the forward activations' variance, "fan_out" the gradients'.
        nonlinearity: "leaky_relu" (torch's default; with a = 0 it is exactly "relu") or
            any name ``calculate_gain`` knows.
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, rng=rng)


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", rng=None
) -> Tensor:
    """He initialisation, uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan), the
    same variance as ``kaiming_normal_``. Linear and Conv2d use it with a = sqrt(5) by
    default, which gives bound = 1 / sqrt(fan_in)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, rng=rng)
