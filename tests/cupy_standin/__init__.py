"""A strict stand-in for CuPy, so that the tests' CuPy leg runs on machines without a GPU.

What it is. A small ``cupy`` package written for learnres's test suite, backed by NumPy: its
``ndarray`` is a distinct class holding a NumPy array on a simulated CUDA device, and it
enforces the boundary between host and device the way CuPy 14 does:

* NumPy cannot look inside a device array: ``numpy.asarray(x)``, ``numpy.zeros(3) + x``'s
  implicit conversion, ``numpy.lib.stride_tricks.as_strided(x, ...)`` raise CuPy's
  ``TypeError: Implicit conversion to a NumPy array is not allowed``; ``x.get()`` and
  ``cupy.asnumpy(x)`` are the ways back.
* A host array never enters a kernel: a NumPy array (0-d too) or a list as an operand of a
  ufunc raises ``TypeError: Unsupported type``; ``x[...] = host_array`` raises CuPy's
  ``ValueError: non-scalar numpy.ndarray cannot be used for fill``. Python and NumPy
  *scalars* are fine, as in CuPy.
* Reductions return 0-d device arrays (``x.sum()`` is not a number until read back); NumPy
  2's type promotion (NEP 50), which CuPy 14 follows; ``cuda.is_available()`` is True; the
  current device is per host thread, arrays on another device are refused.
* It exports only names CuPy exports (``cupy.EXPORTED``).

It counts (``counting()``): device->host synchronisations, host->device copies and kernel
launches, each with where it happened, so tests can hold a training step to a budget.

What it cannot check: kernels (``ElementwiseKernel``/``RawKernel`` code is not compiled or
run, and ``cupy.fuse`` runs the fused function's NumPy twin), cuBLAS/cuDNN numerics (matrix
products are NumPy's, not cuBLAS's summation order or TF32), memory (no allocator, no
out-of-memory, no pool), speed, streams and asynchrony (everything runs at once, in order:
a race between streams cannot show), and CuPy's own bugs. Those need a real GPU: when one is
usable, the tests' CuPy leg runs on real CuPy instead (``tests/conftest.py``).
"""

from __future__ import annotations

import sys

from tests.cupy_standin import _core, cuda, cupy, cupyx, runtime
from tests.cupy_standin._core import Counts, counting, set_device_count

__all__ = ["Counts", "counting", "install", "installed", "set_device_count", "uninstall"]

_MODULES = {
    "cupy": cupy,
    "cupy.cuda": cuda,
    "cupy.cuda.runtime": runtime,
    "cupy.lib": cupy.lib,
    "cupy.lib.stride_tricks": cupy.lib.stride_tricks,
    "cupyx": cupyx,
}
_saved: dict = {}


def install():
    """Put the stand-in in ``sys.modules`` as ``cupy`` (and ``cupyx``); returns the module."""
    for name, module in _MODULES.items():
        if sys.modules.get(name) is not module:
            _saved.setdefault(name, sys.modules.get(name))
            sys.modules[name] = module
    return cupy


def uninstall() -> None:
    """Give ``sys.modules`` back what ``install`` replaced."""
    for name, previous in _saved.items():
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    _saved.clear()


def installed() -> bool:
    return sys.modules.get("cupy") is cupy


del _core
