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

So the admitted globals are ``_reconstruct`` (under both module names, building only plain
numeric arrays of at most ``MAX_ARRAY_BYTES``), ``numpy.ndarray`` (only as the class that
``_reconstruct`` builds: calling it is refused, since ``numpy.ndarray((3,), "O")`` would be an
object array), ``numpy.dtype`` (numeric dtypes only: no objects, strings or records),
``_codecs.encode`` (only ``str`` to ``latin1``) and ``bytes()`` with no argument (how
Python 3 pickles an empty bytes object, e.g. the data of an empty batch). Whatever comes
out is checked once more: an object array anywhere in it is refused.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy._core.multiarray import _reconstruct

__all__ = ["CifarUnpickler", "MAX_ARRAY_BYTES", "RefusedGlobalError", "safe_load", "safe_loads"]

MAX_ARRAY_BYTES = 2**31  # CIFAR-100's training data, the largest array, is 153.6 MB


class RefusedGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global (a class or function) that is not on the allow-list, or
    for an array that a CIFAR batch never holds (objects, an absurd size)."""


class _NdarrayClass:
    """What ``numpy.ndarray`` unpickles to: a name ``_reconstruct`` accepts as its class.

    Calling it is refused: ``numpy.ndarray(shape, "O")`` would make an object array, and a
    CIFAR batch never calls the class itself."""

    def __call__(self, *args, **kwargs):
        raise RefusedGlobalError(
            "numpy.ndarray may only be named as the class that _reconstruct builds; a CIFAR "
            "batch never calls it"
        )

    def __repr__(self) -> str:
        return "numpy.ndarray (as _reconstruct's class only)"


_NDARRAY = _NdarrayClass()


def _reconstruct_ndarray(cls, shape, typecode):
    """``numpy.core.multiarray._reconstruct`` for a plain numeric ``numpy.ndarray`` only."""
    if cls is not _NDARRAY:
        raise RefusedGlobalError(f"_reconstruct may only build numpy.ndarray, not {cls!r}")
    dtype = _plain_dtype(typecode)
    if (
        not isinstance(shape, tuple)
        or not all(type(n) is int and n >= 0 for n in shape)
        or math.prod(shape) * dtype.itemsize > MAX_ARRAY_BYTES
    ):
        raise RefusedGlobalError(f"_reconstruct of an array of shape {shape!r} refused")
    return _reconstruct(np.ndarray, shape, dtype)


def _plain_dtype(*args):
    """``numpy.dtype(...)`` for numeric dtypes only: object dtypes (whose arrays would hold
    pickled objects), strings, records and sub-arrays are refused."""
    spec = args[0] if args else None
    if isinstance(spec, bytes):  # a Python 2 str read with encoding="bytes": b"u1"
        spec = spec.decode("ascii")
    if not isinstance(spec, str):
        raise RefusedGlobalError(f"numpy.dtype({spec!r}) refused: a CIFAR batch names dtypes")
    try:
        dtype = np.dtype(spec, *args[1:])
    except (TypeError, ValueError) as e:
        raise RefusedGlobalError(f"numpy.dtype({spec!r}) refused ({e})") from e
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields or dtype.subdtype:
        kind = "object" if dtype.hasobject else "non-numeric"
        raise RefusedGlobalError(f"{kind} dtype {dtype} refused: CIFAR batches hold uint8 data")
    return dtype


def _empty_bytes(*args):
    """``bytes()``, how Python 3's protocol 2 writes ``b""``; ``bytes(n)`` is refused."""
    if args:
        raise RefusedGlobalError("bytes(...) admitted only without arguments (an empty bytes)")
    return b""


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
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
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


def _refuse_objects(obj, source: str) -> Any:
    """``obj`` unchanged, unless an object array hides in it (a second line of defence)."""
    stack, seen = [obj], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray) and item.dtype.hasobject:
            raise RefusedGlobalError(f"{source}: an object array was refused")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return obj


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with ``CifarUnpickler`` (``encoding="bytes"``)."""
    return _refuse_objects(CifarUnpickler(io.BytesIO(data), source=source).load(), source)


def safe_load(path: str | Path) -> Any:
    """Unpickle the file at ``path`` with ``CifarUnpickler`` (``encoding="bytes"``)."""
    with open(path, "rb") as f:
        return _refuse_objects(CifarUnpickler(f, source=str(path)).load(), str(path))
