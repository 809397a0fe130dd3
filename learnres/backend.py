"""The one place that knows about CuPy.

Every op asks ``xp = get_array_module(x)`` for the array module of its input (the CuPy
convention) and then writes ``xp.exp(x)``, ``xp.zeros_like(x)``, ... so the same code runs on
NumPy and on CuPy. No other module of learnres imports cupy.

A CuPy that is installed on a machine without a usable GPU (no driver, no device, a wheel
built for another CUDA) counts as "no GPU": ``is_gpu_available()`` is False and nothing
else breaks.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "get_array_module",
    "is_gpu_available",
    "to_device",
    "asnumpy",
    "device_of",
    "scatter_add",
    "gpu_problem",
]

try:  # pragma: no cover - depends on the machine
    import cupy as _cupy
except Exception:  # ImportError, or a CuPy whose CUDA libraries fail to load
    _cupy = None


@functools.lru_cache(maxsize=1)
def gpu_problem() -> str | None:
    """Why no GPU can be used, or None when one can."""
    if _cupy is None:
        return "CuPy is not installed (pip install 'learnres[gpu]')"
    try:  # pragma: no cover - needs CuPy
        if _cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy is installed but sees no CUDA device"
        _cupy.zeros(1).sum().item()  # compiles and runs a kernel: the real test
    except Exception as e:  # pragma: no cover - needs CuPy
        return f"CuPy is installed but cannot use a GPU: {type(e).__name__}: {e}"
    return None  # pragma: no cover


def is_gpu_available() -> bool:
    """True when CuPy is installed *and* can run a kernel on a CUDA device."""
    return gpu_problem() is None


def get_array_module(*arrays):
    """``cupy`` if any argument is a CuPy array, else ``numpy``."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def device_of(array) -> str:
    """``"cuda"`` for a CuPy array, ``"cpu"`` otherwise."""
    return "cpu" if get_array_module(array) is np else "cuda"


def _check_device(device: str) -> str:
    name = str(device).split(":")[0]
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    if name == "cuda" and not is_gpu_available():
        raise RuntimeError(f"device 'cuda' requested but no GPU is usable: {gpu_problem()}")
    return name


def to_device(array, device: str):
    """Return ``array`` on ``device`` ("cpu" or "cuda"); no copy when it is already there."""
    name = _check_device(device)
    if name == "cpu":
        return asnumpy(array)
    return _cupy.asarray(array)  # pragma: no cover - needs a GPU


def asnumpy(array) -> np.ndarray:
    """A NumPy array holding ``array``'s values (copies from the GPU when needed)."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)  # pragma: no cover - needs a GPU
    return np.asarray(array)


def scatter_add(target, index, values) -> None:
    """``target[index] += values`` in place, adding repeated indices (``np.add.at``)."""
    xp = get_array_module(target)
    if xp is np:
        np.add.at(target, index, values)
    else:  # pragma: no cover - needs a GPU
        import cupyx

        cupyx.scatter_add(target, index, values)
