"""Checks of a layer's constructor arguments, shared by the layers so that every one says the
same things the same way: ``Conv2d(3, 16, 3, stride=0)`` fails where it is written, not at
the first forward. A forward pass's input is checked by the op the layer calls, once, with
the layer's name in the message (``learnres.functions._checks``)."""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = ["as_pair", "check_bool_arg", "check_int_arg", "check_real_arg"]


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
