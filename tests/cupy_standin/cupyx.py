"""``cupyx`` of the stand-in: the one function learnres takes from it."""

from __future__ import annotations

import numpy as np

from tests.cupy_standin import _core

__all__ = ["scatter_add"]


def scatter_add(a, slices, value) -> None:
    """``a[slices] += value`` adding repeated indices (an atomic-add kernel on a GPU)."""
    if not isinstance(a, _core.ndarray):
        raise TypeError(f"Unsupported type {type(a)}")
    _core.kernel_operand(a)
    key, _ = _core._index(slices, "scatter_add", a.shape)
    value = _core.kernel_operand(value)
    _core.record("launch", "scatter_add")
    np.add.at(a._a, key, value)
