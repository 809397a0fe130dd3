"""Reading the CIFAR pickle batches without letting them run code.

A pickle is a small program for a stack machine. Its ``GLOBAL`` opcode names any importable
callable (``os.system`` included) and ``REDUCE`` calls it with arguments from the stack, so
``pickle.load`` on a file from the internet runs whatever the file says. The only way a
pickle reaches a callable is through ``Unpickler.find_class``; ``CifarUnpickler`` overrides
it to admit exactly the globals that the CIFAR batches use and refuses everything else
*before* anything is called.

What the CIFAR "python version" files contain (seen with ``pickletools.dis``):

- the official files are Python 2 pickles (protocol 2) of a dict with str keys
  (``"data"``, ``"labels"``, ...); read with ``encoding="bytes"`` the keys become ``b"data"``;
- ``data`` is a NumPy array, pickled as ``numpy.core.multiarray._reconstruct(numpy.ndarray,
  (0,), b"b")`` followed by ``ndarray.__setstate__`` with the shape, a ``numpy.dtype("u1")``
  and the raw bytes (NumPy 2 writes the module as ``numpy._core.multiarray``);
- files re-written by Python 3 with protocol 2 (such as the subset in ``shared/datasets``)
  spell every bytes object as ``_codecs.encode("...", "latin1")``.

So the admitted globals are ``_reconstruct`` (under both module names), ``numpy.ndarray``,
``numpy.dtype`` (object dtypes refused) and ``_codecs.encode`` (only ``str`` to ``latin1``).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy._core.multiarray import _reconstruct

__all__ = ["CifarUnpickler", "RefusedGlobalError", "safe_load", "safe_loads"]


class RefusedGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global (a class or function) that is not on the allow-list."""


def _reconstruct_ndarray(cls, shape, typecode):
    """``numpy.core.multiarray._reconstruct`` for plain ``numpy.ndarray`` only."""
    if cls is not np.ndarray:
        raise RefusedGlobalError(f"_reconstruct may only build numpy.ndarray, not {cls!r}")
    return _reconstruct(cls, shape, typecode)


def _plain_dtype(*args):
    """``numpy.dtype(...)`` refusing object dtypes (whose arrays would hold pickled objects)."""
    spec = args[0] if args else None
    if isinstance(spec, bytes):  # a Python 2 str read with encoding="bytes": b"u1"
        spec = spec.decode("ascii")
    dtype = np.dtype(spec, *args[1:])
    if dtype.hasobject:
        raise RefusedGlobalError(f"object dtype {dtype!r} refused: CIFAR batches hold uint8 data")
    return dtype


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as Python 3 uses it to pickle bytes: ``str`` to ``latin1`` only."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1":
        raise RefusedGlobalError(
            f"_codecs.encode admitted only as encode(str, 'latin1'), got encode({type(text)}, "
            f"{encoding!r})"
        )
    return text.encode("latin1", errors)


# (module, name) as written in the pickle -> the callable the unpickler gets instead
_ALLOWED: dict[tuple[str, str], Callable] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_ndarray,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_ndarray,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class CifarUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that admits only the globals a CIFAR batch needs.

    Arguments:
        file: a binary file object holding the pickle.
        source: a name for the file, used in error messages.

    Anything else a pickle asks for raises ``RefusedGlobalError`` naming ``module.name``,
    before it is called. ``persistent_load`` keeps the base class's refusal.
    """

    def __init__(self, file: BinaryIO, source: str = "<pickle>"):
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ALLOWED)
            raise RefusedGlobalError(
                f"{self.source}: refusing to load global {module}.{name}: a CIFAR batch only "
                f"needs {allowed}; this file is not a CIFAR batch or has been tampered with"
            ) from None


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with ``CifarUnpickler`` (``encoding="bytes"``)."""
    return CifarUnpickler(io.BytesIO(data), source=source).load()


def safe_load(path: str | Path) -> Any:
    """Unpickle the file at ``path`` with ``CifarUnpickler`` (``encoding="bytes"``)."""
    with open(path, "rb") as f:
        return CifarUnpickler(f, source=str(path)).load()
