"""``cupy.cuda.runtime`` of the stand-in: the CUDA runtime calls learnres makes."""

from __future__ import annotations

from tests.cupy_standin import _core

# The CUDA versions the stand-in reports (CUDA's integer form: 12080 is 12.8). A real CuPy
# reports what its wheel was built for and what the driver supports.
RUNTIME_VERSION = 12080
DRIVER_VERSION = 12090


class CUDARuntimeError(RuntimeError):
    """CuPy's error for a failing CUDA runtime call."""


def getDeviceCount() -> int:
    return _core.device_count()


def getDevice() -> int:
    return _core.current_device()


def setDevice(device: int) -> None:
    _core.set_current_device(device)


def runtimeGetVersion() -> int:
    return RUNTIME_VERSION


def driverGetVersion() -> int:
    return DRIVER_VERSION


def getDeviceProperties(device: int) -> dict:
    if not 0 <= int(device) < _core.device_count():
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {
        "name": b"CuPy stand-in (NumPy on the host)",
        "major": 9,
        "minor": 0,
        "totalGlobalMem": 0,
        "multiProcessorCount": 0,
    }


def deviceSynchronize() -> None:
    _core.record("sync", "runtime.deviceSynchronize")
