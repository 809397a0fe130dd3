"""Keep freed memory for the next training step instead of handing it back to the kernel.

A training step allocates the same few hundred megabytes every time (activations, im2col
columns, gradients) and frees them all at its end. glibc's ``malloc`` serves every block
above its *mmap threshold* (128 KiB to start with) with a fresh ``mmap`` and gives it back
with ``munmap`` when freed, so the next step meets brand-new pages, and the kernel zeroes
each 4 KiB page on first touch: ResNet-56 at batch 128 took ~100,000 such page faults per
step, about half a second of kernel time (torch's step: ~7,000). NumPy asks the C
allocator for every array.

``keep_freed_memory()`` raises the mmap threshold to glibc's maximum (32 MiB on 64-bit
machines) and the trim threshold out of reach, so large arrays come from the heap and
freed ones are reused by the next step (measured: 8 page faults per step instead of
~100,000). The cost: the process keeps its peak memory instead of returning it between
steps. ``learnres.parallel`` (the schedule the layers run their convolutions, batch norms
and pools on) calls it once, on its first run on the CPU; elsewhere (macOS, Windows, musl)
it does nothing. ``LEARNRES_MALLOC=system`` leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory", "malloc_status"]

# mallopt parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
TRIM_THRESHOLD = 2**31 - 1  # int max: never trim the top of the heap

_status: str | None = None


def keep_freed_memory() -> bool:
    """Tune glibc's malloc to reuse freed blocks up to 32 MiB (see the module docstring).

    Returns True when the allocator was tuned (now or by an earlier call), False where
    that is not possible or not wanted; ``malloc_status()`` says which and why.
    """
    global _status
    if _status is None:
        _status = _tune()
    return _status.startswith("tuned")


def malloc_status() -> str:
    """One line on what ``keep_freed_memory`` did (or would do) in this process."""
    return _status if _status is not None else "not tuned yet (no scheduled op has run on the CPU)"


def _tune() -> str:
    if os.environ.get("LEARNRES_MALLOC", "").lower() == "system":
        return "left alone (LEARNRES_MALLOC=system)"
    if not sys.platform.startswith("linux"):
        return f"left alone (not Linux: {sys.platform})"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "left alone (no glibc mallopt: another C library)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    tuned = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and mallopt(
        M_TRIM_THRESHOLD, TRIM_THRESHOLD
    )
    if not tuned:
        return "left alone (mallopt refused the settings)"
    return "tuned: blocks up to 32 MiB are reused, never unmapped between steps"
