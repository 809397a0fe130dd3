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
    "gpu_report",
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


def gpu_report() -> dict:
    """Versions that decide whether the GPU path works, for ``learnres doctor``.

    Keys: ``cupy`` (version or None), ``cupy_package`` (the installed wheel's name, e.g.
    ``cupy-cuda12x``), ``cupy_numpy_requirement`` (the NumPy range that wheel declares),
    ``cuda_runtime`` and ``cuda_driver`` (as CUDA versions "12.8"; the runtime is what the
    wheel was built for, the driver what the machine supports), ``devices`` (names),
    ``problem`` (why no GPU is usable, or None).
    """
    from importlib import metadata

    report = {
        "cupy": None, "cupy_package": None, "cupy_numpy_requirement": None,
        "cuda_runtime": None, "cuda_driver": None, "devices": [], "problem": gpu_problem(),
    }  # fmt: skip
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name == "cupy" or name.startswith("cupy-cuda"):
            report["cupy_package"] = f"{name} {dist.version}"
            numpy_reqs = [r for r in (dist.requires or []) if r.lower().startswith("numpy")]
            report["cupy_numpy_requirement"] = numpy_reqs[0] if numpy_reqs else None
    if _cupy is None:
        return report
    report["cupy"] = _cupy.__version__  # pragma: no cover - needs CuPy
    try:  # pragma: no cover - needs CuPy
        runtime = _cupy.cuda.runtime
        report["cuda_runtime"] = _cuda_version(runtime.runtimeGetVersion())
        report["cuda_driver"] = _cuda_version(runtime.driverGetVersion())
        for i in range(runtime.getDeviceCount()):
            report["devices"].append(runtime.getDeviceProperties(i)["name"].decode())
    except Exception as e:  # pragma: no cover - needs CuPy
        report["problem"] = report["problem"] or f"{type(e).__name__}: {e}"
    return report


def _cuda_version(code: int) -> str | None:
    """CUDA's integer version (12080) as "12.8"; 0 (no driver) as None."""
    return f"{code // 1000}.{code % 1000 // 10}" if code else None
