"""Plain data: what a student's code may hand back to the grader, and nothing else.

A grader compares numbers, never objects: whatever the student's code returns is turned into
*plain data* (None, bools, ints, floats, strings, lists, tuples, dicts with string keys, and
NumPy arrays of numbers) before any check looks at it. On Gradescope the student's code runs in
another process and the plain data crosses a pipe as JSON (arrays as base64 of their bytes), so
the grading process never unpickles, imports or calls anything the submission made. Locally the
same conversion runs in one process, so both paths see the same values.

    text = dumps({"y": np.ones((2, 3)), "names": ["conv1.weight"], "ok": (True, None)})
    loads(text)   # the same structure back; arrays keep dtype and shape

Anything else (a Tensor, a Module, a function) becomes an ``Opaque`` that keeps only its type
name and a short repr, so a check can say "expected an array, got Tensor".
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_TEXT", "Opaque", "PlainDataError", "decode", "dumps", "encode", "loads"]

MAX_TEXT = 512 * 2**20
"""The longest JSON text accepted from another process (a bound on memory, not a limit that
any grader comes near)."""

_NUMBER_KINDS = "biufc"  # bool, signed and unsigned ints, floats, complex
_MAX_DEPTH = 64


class PlainDataError(ValueError):
    """A value that is not plain data arrived where plain data was expected."""


@dataclass(frozen=True)
class Opaque:
    """Something that was not plain data: only its type's name and a short repr survive."""

    type_name: str
    text: str

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.text}>"


def encode(value, _depth: int = 0):
    """``value`` as a tree of JSON types (see the module docstring for what survives)."""
    if _depth > _MAX_DEPTH:
        return {"__opaque__": "nested too deep", "text": ""}
    if isinstance(value, np.generic):  # before float: np.float64 is a float
        if value.dtype.kind in _NUMBER_KINDS:
            return {"__scalar__": _array(np.asarray(value))}
        return _opaque(value)
    if value is None or isinstance(value, (bool, str)):
        return value if type(value) in (bool, str, type(None)) else _opaque(value)
    if isinstance(value, int):
        return value if type(value) is int else int(value)
    if isinstance(value, float):
        return _float(float(value))
    if isinstance(value, np.ndarray):
        if value.dtype.kind in _NUMBER_KINDS:
            return {"__array__": _array(value)}
        return _opaque(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, _depth + 1) for v in value]}
    if isinstance(value, list):
        return [encode(v, _depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": [[k, encode(v, _depth + 1)] for k, v in value.items()]}
    return _opaque(value)


def _float(x: float):
    if math.isfinite(x):
        return x
    return {"__float__": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _array(a: np.ndarray) -> dict:
    little = a.dtype.newbyteorder("<")  # bool and int8 have no byte order: unchanged
    data = np.asarray(a, dtype=little, order="C").tobytes()  # (ascontiguousarray makes 0-d 1-d)
    return {"dtype": little.str, "shape": list(a.shape), "data": base64.b64encode(data).decode()}


def _opaque(value) -> dict:
    try:
        text = repr(value)
    except Exception as e:  # noqa: BLE001 (a student's __repr__ may raise anything)
        text = f"(repr raised {type(e).__name__})"
    return {"__opaque__": type(value).__name__, "text": text[:200]}


def decode(tree, _depth: int = 0):
    """The value a tree made by ``encode`` stands for; raises PlainDataError on anything else."""
    if _depth > _MAX_DEPTH:
        raise PlainDataError("plain data nested too deep")
    if tree is None or isinstance(tree, (bool, str, int, float)):
        return tree
    if isinstance(tree, list):
        return [decode(v, _depth + 1) for v in tree]
    if not isinstance(tree, dict) or len(tree) not in (1, 2):
        raise PlainDataError(f"not plain data: {str(tree)[:80]}")
    if "__array__" in tree:
        return _decode_array(tree["__array__"])
    if "__scalar__" in tree:
        return _decode_array(tree["__scalar__"])[()]
    if "__tuple__" in tree:
        return tuple(decode(v, _depth + 1) for v in _list(tree["__tuple__"]))
    if "__dict__" in tree:
        out = {}
        for item in _list(tree["__dict__"]):
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                raise PlainDataError("a dict entry must be [key, value] with a string key")
            out[item[0]] = decode(item[1], _depth + 1)
        return out
    if "__float__" in tree:
        text = tree["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise PlainDataError(f"not a float: {text!r}")
        return float(text)
    if "__opaque__" in tree:
        return Opaque(str(tree["__opaque__"])[:100], str(tree.get("text", ""))[:200])
    raise PlainDataError(f"not plain data: {str(tree)[:80]}")


def _list(value) -> list:
    if not isinstance(value, list):
        raise PlainDataError("expected a list")
    return value


def _decode_array(spec) -> np.ndarray:
    if not isinstance(spec, dict):
        raise PlainDataError("an array must be a dict")
    try:
        dtype = np.dtype(str(spec["dtype"]))
        shape = tuple(int(n) for n in spec["shape"])
        raw = base64.b64decode(str(spec["data"]).encode("ascii"), validate=True)
    except (KeyError, TypeError, ValueError) as e:
        raise PlainDataError(f"not an array: {e}") from None
    if dtype.kind not in _NUMBER_KINDS or dtype.hasobject or dtype.fields:
        raise PlainDataError(f"arrays of numbers only, got dtype {dtype}")
    if any(n < 0 for n in shape) or math.prod(shape) * dtype.itemsize != len(raw):
        raise PlainDataError(f"array data of {len(raw)} bytes does not fit {dtype} {shape}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def dumps(value) -> str:
    """``value`` as one line of JSON text."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


def loads(text: str | bytes):
    """The value ``dumps`` wrote; raises PlainDataError for anything that is not plain data."""
    if len(text) > MAX_TEXT:
        raise PlainDataError(f"plain data longer than {MAX_TEXT} characters")
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise PlainDataError(f"not JSON: {e}") from None
    return decode(tree)
