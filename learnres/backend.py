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
    "as_strided",
    "is_gpu_available",
    "to_device",
    "asnumpy",
    "device_of",
    "parse_device",
    "canonical_device",
    "check_device",
    "scatter_add",
    "check_later",
    "raise_failed_checks",
    "gpu_pool_bytes",
    "gpu_problem",
    "gpu_report",
    "use_cupy",
]

try:  # pragma: no cover - depends on the machine
    import cupy as _cupy
except Exception:  # ImportError, or a CuPy whose CUDA libraries fail to load
    _cupy = None


def use_cupy(module) -> None:
    """Take ``module`` as CuPy from now on (None: no CuPy).

    For the test suite: when no GPU is usable, ``tests/conftest.py`` passes its strict CuPy
    stand-in here, so the CuPy code paths run (and are checked) on every machine.
    """
    global _cupy
    _cupy = module
    gpu_problem.cache_clear()


@functools.lru_cache(maxsize=1)
def gpu_problem() -> str | None:
    """Why no GPU can be used, or None when one can."""
    if _cupy is None:
        return "CuPy is not installed (pip install 'learnres[gpu]'; learnres doctor says which)"
    try:
        if _cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy is installed but sees no CUDA device"
        _cupy.zeros(1).sum().item()  # compiles and runs a kernel: the real test
    except Exception as e:  # no driver, a driver too old for the wheel, no kernel image...
        return f"CuPy is installed but cannot use a GPU: {type(e).__name__}: {e}"
    return None


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


def as_strided(a, shape: tuple, strides: tuple):
    """A view of ``a`` with ``shape`` and ``strides`` (in bytes), no copy: the array module's
    ``lib.stride_tricks.as_strided``.

    For a C-contiguous NumPy array the view is made by ``np.ndarray`` over a's buffer, in C,
    which also checks that the view stays inside ``a``. NumPy's ``as_strided`` builds it in
    Python (~2.5 us holding the interpreter lock), and with two threads sharing the lock
    (``learnres.parallel``) that cost a ResNet-20 training step 2-4%.
    """
    xp = get_array_module(a)
    if xp is np and a.flags.c_contiguous:
        return np.ndarray(shape, a.dtype, buffer=a, strides=strides)
    return xp.lib.stride_tricks.as_strided(a, shape, strides)


def device_of(array) -> str:
    """``"cpu"`` for a NumPy array, ``"cuda"`` for a CuPy array on GPU 0, ``"cuda:N"`` on GPU N."""
    if get_array_module(array) is np:
        return "cpu"
    index = array.device.id
    return "cuda" if index == 0 else f"cuda:{index}"


def parse_device(device) -> tuple[str, int | None]:
    """``"cpu"`` -> ("cpu", None); ``"cuda"`` -> ("cuda", 0); ``"cuda:N"`` -> ("cuda", N).

    Raises ValueError for anything else ("tpu", "cuda:x", "cuda:-1", "cpu:0").
    """
    text = str(device)
    name, _, index = text.partition(":")
    if name == "cpu" and not index:
        return "cpu", None
    if name == "cuda" and (not index or index.isdigit()):
        return "cuda", int(index) if index else 0
    raise ValueError(
        f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N' (N = 0, 1, ... the "
        "GPU's number)"
    )


def canonical_device(device) -> str:
    """The name ``device_of`` gives arrays on ``device``: "cpu", "cuda" (GPU 0) or "cuda:N"."""
    name, index = parse_device(device)
    return name if not index else f"cuda:{index}"


def _gpu_index(device) -> int:
    """The GPU ``device`` names; raises when no GPU is usable or there is no such GPU."""
    _, index = parse_device(device)
    if not is_gpu_available():
        raise RuntimeError(
            f"device {str(device)!r} requested but no GPU is usable: {gpu_problem()}"
        )
    count = _cupy.cuda.runtime.getDeviceCount()
    if index >= count:
        have = ", ".join(["cuda"] + [f"cuda:{i}" for i in range(1, count)])
        raise ValueError(
            f"device {str(device)!r} requested but this machine has {count} CUDA "
            f"device{'s' if count > 1 else ''} ({have})"
        )
    return index


def check_device(device) -> str:
    """``device``'s canonical name if arrays can go there; else ValueError (a bad name, a GPU
    this machine lacks) or RuntimeError (no GPU is usable), each saying why."""
    if parse_device(device)[0] == "cuda":
        _gpu_index(device)
    return canonical_device(device)


def to_device(array, device: str):
    """Return ``array`` on ``device`` ("cpu", "cuda" or "cuda:N"); no copy when it is there.

    learnres computes on one GPU at a time, the calling thread's current CUDA device (every
    new array is made there): moving something to "cuda:N" makes GPU N current in this
    thread, so the ops that follow run where their inputs are. "cuda" is "cuda:0".
    """
    name, _ = parse_device(device)
    if name == "cpu":
        return asnumpy(array)
    index = _gpu_index(device)
    gpu = _cupy.cuda.Device(index)
    gpu.use()
    return _cupy.asarray(array)  # from the host, or from another GPU (a peer copy)


def asnumpy(array) -> np.ndarray:
    """A NumPy array holding ``array``'s values (copies from the GPU when needed).

    A read from the GPU waits for it (a synchronisation); the device-side checks that were
    waiting for the next read (``check_later``) are raised here first.
    """
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        raise_failed_checks()
        return _cupy.asnumpy(array)
    return np.asarray(array)


# ---- device-side checks -----------------------------------------------------------------------

_pending_checks: dict[str, tuple] = {}  # message -> (0-d device bool, the error to raise)


def check_later(failed, error: Exception) -> None:
    """Raise ``error`` if ``failed`` (a 0-d bool array) is True: at once for a NumPy array,
    at the next read from the GPU (``asnumpy``, ``Tensor.item``) for a CuPy one.

    Reading a GPU value back makes the host wait for the GPU (a synchronisation), which a
    training step must not do for a check that almost never fails; like torch's device-side
    asserts, the check's result waits on the GPU until the host reads from it anyway.
    Checks with the same message are combined (one pending flag each).
    """
    if get_array_module(failed) is np:
        if failed:
            raise error
        return
    key = f"{type(error).__name__}: {error}"
    previous = _pending_checks.get(key)
    _pending_checks[key] = (failed if previous is None else previous[0] | failed, error)


def raise_failed_checks() -> None:
    """Read the pending device-side checks (one synchronisation) and raise the first failed."""
    if not _pending_checks:
        return
    checks = list(_pending_checks.values())
    _pending_checks.clear()
    failed = _cupy.asnumpy(_cupy.stack([flag for flag, _ in checks]))
    for flag, (_, error) in zip(failed, checks):
        if flag:
            raise error


def scatter_add(target, index, values) -> None:
    """``target[index] += values`` in place, adding repeated indices (``np.add.at``)."""
    xp = get_array_module(target)
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)


def gpu_pool_bytes() -> int:
    """Bytes held by CuPy's default memory pool (a caching allocator: it keeps freed blocks
    for reuse, so what it holds is the most the program has needed at once, unless
    ``free_all_blocks`` was called). Raises RuntimeError when no GPU is usable."""
    if gpu_problem() is not None:
        raise RuntimeError(f"no GPU memory to measure: {gpu_problem()}")
    return int(_cupy.get_default_memory_pool().total_bytes())


def gpu_report() -> dict:
    """Versions that decide whether the GPU path works, for ``learnres doctor``.

    Keys: ``cupy`` (version or None), ``cupy_package`` (the installed wheel's name and
    version, e.g. ``cupy-cuda13x 14.2.0``), ``cupy_packages`` (every CuPy wheel installed:
    more than one shadow each other), ``cupy_numpy_requirement`` (the NumPy range that wheel
    declares), ``cuda_runtime`` and ``cuda_driver`` (as CUDA versions "12.8"; the runtime is
    what the wheel was built for, the driver what the machine supports, read from the driver
    library itself when CuPy cannot start), ``devices`` (names), ``problem`` (why no GPU is
    usable, or None).
    """
    from importlib import metadata

    report = {
        "cupy": None,
        "cupy_package": None,
        "cupy_packages": [],
        "cupy_numpy_requirement": None,
        "cuda_runtime": None,
        "cuda_driver": None,
        "devices": [],
        "problem": gpu_problem(),
    }
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name == "cupy" or name.startswith("cupy-cuda"):
            report["cupy_packages"].append(f"{name} {dist.version}")
            report["cupy_package"] = f"{name} {dist.version}"
            numpy_reqs = [r for r in (dist.requires or []) if r.lower().startswith("numpy")]
            report["cupy_numpy_requirement"] = numpy_reqs[0] if numpy_reqs else None
    report["cupy_packages"].sort()
    report["cuda_driver"] = _driver_cuda_version()
    if _cupy is None:
        return report
    report["cupy"] = _cupy.__version__
    try:
        runtime = _cupy.cuda.runtime
        report["cuda_runtime"] = _cuda_version(runtime.runtimeGetVersion())
        report["cuda_driver"] = _cuda_version(runtime.driverGetVersion())
        for i in range(runtime.getDeviceCount()):
            report["devices"].append(runtime.getDeviceProperties(i)["name"].decode())
    except Exception as e:  # no driver, a driver too old for the wheel, no kernel image...
        report["problem"] = report["problem"] or f"{type(e).__name__}: {e}"
    return report


def _driver_cuda_version() -> str | None:
    """The CUDA version the NVIDIA driver supports ("13.0"), asked of libcuda directly (no
    CuPy needed), or None without a driver."""
    import ctypes

    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int(0)
        if libcuda.cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return _cuda_version(version.value)  # pragma: no cover - needs an NVIDIA driver


def _cuda_version(code: int) -> str | None:
    """CUDA's integer version (12080) as "12.8"; 0 (no driver) as None."""
    return f"{code // 1000}.{code % 1000 // 10}" if code else None
