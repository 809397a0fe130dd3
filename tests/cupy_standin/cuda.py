"""``cupy.cuda`` of the stand-in: devices, the current device, streams, availability."""

from __future__ import annotations

from tests.cupy_standin import _core, runtime

__all__ = ["Device", "Stream", "get_current_stream", "is_available", "runtime"]


def is_available() -> bool:
    """True: the stand-in always has its simulated device(s)."""
    return True


class Device:
    """CUDA device ``device`` (default: the current one); ``with Device(1):`` makes it current
    for the block, ``.use()`` from now on (per host thread, as CUDA does)."""

    def __init__(self, device=None):
        self.id = _core.current_device() if device is None else int(device)
        self._previous: list[int] = []

    def __enter__(self):
        self._previous.append(_core.current_device())
        _core.set_current_device(self.id)
        return self

    def __exit__(self, *exc):
        _core.set_current_device(self._previous.pop())
        return False

    def use(self) -> None:
        _core.set_current_device(self.id)

    def synchronize(self) -> None:
        _core.record("sync", "Device.synchronize")

    @property
    def compute_capability(self) -> str:
        return "90"

    def __eq__(self, other) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __int__(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


class Stream:
    """The stand-in runs everything at once, in order: a stream only counts synchronisations."""

    def __init__(self, non_blocking=False):
        self.non_blocking = non_blocking

    def synchronize(self) -> None:
        _core.record("sync", "Stream.synchronize")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NULL_STREAM = Stream()


def get_current_stream() -> Stream:
    return _NULL_STREAM
