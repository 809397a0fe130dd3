"""Checks shared by the layers, so every layer's error says the same things the same way:
the layer (as it prints), what it expected, and what came. ``check_ndim`` and friends check
a forward pass's input; ``check_int_arg`` and friends check a constructor's arguments, so
``Conv2d(3, 16, 3, stride=0)`` fails where it is written, not at the first forward."""

from __future__ import annotations

import math
from numbers import Integral, Real

from learnres.autograd.function import OpError

__all__ = [
    "as_pair",
    "check_bool_arg",
    "check_channels",
    "check_dtype",
    "check_int_arg",
    "check_ndim",
    "check_real_arg",
    "check_spatial_size",
]


def as_pair(value) -> tuple[int, int]:
    """A layer's ``kernel_size``, ``stride`` or ``padding`` as (h, w): an int n is (n, n).
    (``check_int_arg(..., pair=True)`` has checked it when the layer was made.)"""
    return (value, value) if isinstance(value, int) else tuple(value)


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int_arg(layer: str, name: str, value, low: int = 1, pair: bool = False) -> None:
    """``value`` is an int >= ``low`` (with ``pair``: or an (h, w) pair of them).

    ``Conv2d: stride must be an int >= 1 or an (h, w) pair of them, got 0``: TypeError for a
    value of the wrong type (1.5, "2"), ValueError for one out of range (0, -1)."""
    what = f"an int >= {low}" + (" or an (h, w) pair of them" if pair else "")
    is_pair = pair and isinstance(value, (tuple, list))
    items = tuple(value) if is_pair else (value,)
    if (is_pair and len(items) != 2) or not all(_is_int(v) for v in items):
        raise TypeError(f"{layer}: {name} must be {what}, got {value!r}")
    if any(v < low for v in items):
        raise ValueError(f"{layer}: {name} must be {what}, got {value!r}")


def check_real_arg(
    layer: str,
    name: str,
    value,
    low: float = 0.0,
    high: float | None = None,
    positive: bool = False,
) -> None:
    """``value`` is a finite number >= ``low`` (> with ``positive``) and <= ``high``."""
    bounds = f"{'>' if positive else '>='} {low:g}" + (
        f" and <= {high:g}" if high is not None else ""
    )
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{layer}: {name} must be a number {bounds}, got {value!r}")
    if (
        not math.isfinite(value)
        or value < low
        or (positive and value <= low)
        or (high is not None and value > high)
    ):
        raise ValueError(f"{layer}: {name} must be a finite number {bounds}, got {value!r}")


def check_bool_arg(layer: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{layer}: {name} must be True or False, got {value!r}")


_LAYOUTS = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}


def check_ndim(layer: str, x, ndims: tuple[int, ...]) -> None:
    """``Conv2d expects (N, C, H, W), got shape (3, 32, 32)``."""
    if x.ndim not in ndims:
        expected = " or ".join(_LAYOUTS[n] for n in ndims)
        raise OpError(f"{layer} expects {expected}, got shape {tuple(x.shape)}")


def check_channels(layer: str, x, expected: int, what: str = "channels", axis: int = 1) -> None:
    """``Conv2d(3→16) got input with 4 channels (shape (8, 4, 32, 32))``."""
    if x.shape[axis] != expected:
        raise OpError(
            f"{layer} got input with {x.shape[axis]} {what} (shape {tuple(x.shape)}); "
            f"expected {expected} {what}"
        )


def check_spatial_size(layer: str, x, kernel_size, padding) -> None:
    """The padded input must be at least as large as the kernel."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    H, W = x.shape[-2:]
    if H + 2 * ph < kh or W + 2 * pw < kw:
        raise OpError(
            f"{layer} got input of size {H}x{W} (shape {tuple(x.shape)}), which is smaller "
            f"than its {kh}x{kw} kernel even after padding {padding} (padded size "
            f"{H + 2 * ph}x{W + 2 * pw})"
        )


def check_dtype(layer: str, x, state) -> None:
    """The input's dtype must be the layer's (its parameters' or buffers')."""
    if state is not None and x.dtype != state.dtype:
        cast = ".double()" if x.dtype == "float64" else ".float()"
        raise OpError(
            f"{layer} has {state.dtype} parameters but got {x.dtype} input (shape "
            f"{tuple(x.shape)}); convert the input with .astype(np.{state.dtype}) or the "
            f"model with {cast}"
        )
