"""The ``cupy`` namespace of the stand-in (installed as ``sys.modules["cupy"]``).

Every public name here is one that CuPy 14 exports under the same name (``EXPORTED`` below
lists them, and ``tests/test_cupy_standin.py`` holds them to CuPy's own list on a real GPU).
Functions take device arrays; a host NumPy array where CuPy wants a device array raises as
CuPy does. Each function counts what CuPy would launch (see ``_core.Counts``).
"""

from __future__ import annotations

import builtins
import types

import numpy as np

from tests.cupy_standin import _core, cuda
from tests.cupy_standin._core import ndarray, ufunc  # noqa: F401 - cupy.ufunc is CuPy's

__version__ = "14.0.0+standin"  # the CuPy API this stand-in follows; "+standin" says what it is


def _device_array(a, what="argument") -> ndarray:
    """``a`` must be a device array on the current device (CuPy's functions take no host arrays)."""
    if not isinstance(a, ndarray):
        raise TypeError(f"Unsupported type {type(a)}")
    _core.kernel_operand(a)
    return a


def _new(np_array) -> ndarray:
    return _core._wrap(np_array)


def _view(np_array, like: ndarray) -> ndarray:
    return _core._wrap(np_array, like._device_id)


# ---- the host boundary --------------------------------------------------------------------------


def asarray(a, dtype=None, order=None, *, blocking=False):
    """``a`` on the current device; host data is copied there (one host->device copy)."""
    return _core.as_device(a, dtype)


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    out = _core.as_device(obj, dtype, copy=copy)
    return out if ndmin <= out.ndim else out.reshape((1,) * (ndmin - out.ndim) + out.shape)


asanyarray = asarray


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A NumPy array of ``a``: a device array is copied back (a synchronisation)."""
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    """``cupy`` (this module) if any argument is a device array, else ``numpy``."""
    import sys

    for a in args:
        if isinstance(a, ndarray):
            return sys.modules[__name__]
    return np


def is_available() -> bool:
    return cuda.is_available()


# ---- creation -----------------------------------------------------------------------------------


def empty(shape, dtype=float, order="C"):
    return _new(np.empty(shape, dtype=dtype, order=order))


def zeros(shape, dtype=float, order="C"):
    _core.record("launch", "memset")
    return _new(np.zeros(shape, dtype=dtype, order=order))


def ones(shape, dtype=float, order="C"):
    _core.record("launch", "fill")
    return _new(np.ones(shape, dtype=dtype, order=order))


def full(shape, fill_value, dtype=None, order="C"):
    if isinstance(fill_value, ndarray):
        fill_value = _core.kernel_operand(fill_value)
    elif not isinstance(fill_value, _core._SCALARS):
        raise TypeError(f"Unsupported type {type(fill_value)}")
    _core.record("launch", "fill")
    return _new(np.full(shape, fill_value, dtype=dtype, order=order))


def _like(a, dtype, shape):
    shape = a.shape if shape is None else shape
    return shape, a.dtype if dtype is None else dtype


def empty_like(a, dtype=None, order="K", subok=None, shape=None):
    return empty(*_like(a, dtype, shape))


def zeros_like(a, dtype=None, order="K", subok=None, shape=None):
    return zeros(*_like(a, dtype, shape))


def ones_like(a, dtype=None, order="K", subok=None, shape=None):
    return ones(*_like(a, dtype, shape))


def full_like(a, fill_value, dtype=None, order="K", subok=None, shape=None):
    shape, dtype = _like(a, dtype, shape)
    return full(shape, fill_value, dtype)


def arange(start, stop=None, step=1, dtype=None):
    _core.record("launch", "arange")
    return _new(
        np.arange(start, stop, step, dtype=dtype)
        if stop is not None
        else np.arange(start, dtype=dtype)
    )


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    _core.record("launch", "linspace")
    return _new(np.linspace(start, stop, num, endpoint, dtype=dtype, axis=axis))


def eye(N, M=None, k=0, dtype=float, order="C"):
    _core.record("launch", "eye")
    return _new(np.eye(N, M, k, dtype=dtype, order=order))


def identity(n, dtype=float):
    return eye(n, dtype=dtype)


def copy(a, order="K"):
    return _device_array(a).copy(order="C" if order == "K" else order)


def ascontiguousarray(a, dtype=None):
    a = _device_array(a)
    if a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    _core.record("launch", "copy")
    return _view(np.ascontiguousarray(a._a, dtype=dtype), a)


# ---- shapes and views ---------------------------------------------------------------------------


def reshape(a, newshape, order="C"):
    return _device_array(a).reshape(newshape, order=order)


def ravel(a, order="C"):
    return _device_array(a).ravel(order)


def transpose(a, axes=None):
    return _device_array(a).transpose(axes)


def swapaxes(a, axis1, axis2):
    return _device_array(a).swapaxes(axis1, axis2)


def moveaxis(a, source, destination):
    a = _device_array(a)
    return _view(np.moveaxis(a._a, source, destination), a)


def expand_dims(a, axis):
    a = _device_array(a)
    return _view(np.expand_dims(a._a, axis), a)


def squeeze(a, axis=None):
    return _device_array(a).squeeze(axis)


def broadcast_to(array, shape):
    a = _device_array(array)
    return _view(np.broadcast_to(a._a, shape), a)


def broadcast_arrays(*args):
    arrays = [_device_array(a) for a in args]
    return [_view(b, a) for a, b in zip(arrays, np.broadcast_arrays(*(a._a for a in arrays)))]


def atleast_1d(*arys):
    out = [_view(np.atleast_1d(_device_array(a)._a), a) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys):
    out = [_view(np.atleast_2d(_device_array(a)._a), a) for a in arys]
    return out[0] if len(out) == 1 else out


def flip(m, axis=None):
    a = _device_array(m)
    return _view(np.flip(a._a, axis), a)


def _join(name, np_fn, arrays, **kwargs):
    arrays = [_device_array(a) for a in arrays]
    out = kwargs.pop("out", None)
    if out is not None:
        kwargs["out"] = _device_array(out)._a
    for _ in arrays:  # one copy kernel per input
        _core.record("launch", name)
    value = np_fn([a._a for a in arrays], **kwargs)
    return out if out is not None else _new(value)


def concatenate(tup, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return _join(
        "concatenate", np.concatenate, tup, axis=axis, out=out, dtype=dtype, casting=casting
    )


def stack(tup, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return _join("stack", np.stack, tup, axis=axis, out=out, dtype=dtype, casting=casting)


def hstack(tup, *, dtype=None, casting="same_kind"):
    return _join("hstack", np.hstack, tup, dtype=dtype, casting=casting)


def vstack(tup, *, dtype=None, casting="same_kind"):
    return _join("vstack", np.vstack, tup, dtype=dtype, casting=casting)


def split(ary, indices_or_sections, axis=0):
    """Views of ``ary`` (no copy, no launch)."""
    a = _device_array(ary)
    return [_view(part, a) for part in np.split(a._a, indices_or_sections, axis)]


def array_split(ary, indices_or_sections, axis=0):
    a = _device_array(ary)
    return [_view(part, a) for part in np.array_split(a._a, indices_or_sections, axis)]


def roll(a, shift, axis=None):
    a = _device_array(a)
    _core.record("launch", "roll")
    return _view(np.roll(a._a, shift, axis), a)


def tile(A, reps):
    a = _device_array(A)
    _core.record("launch", "tile")
    return _view(np.tile(a._a, reps), a)


def repeat(a, repeats, axis=None):
    a = _device_array(a)
    _core.record("launch", "repeat")
    return _view(np.repeat(a._a, repeats, axis), a)


def pad(array, pad_width, mode="constant", **kwargs):
    a = _device_array(array)
    for key in ("constant_values", "end_values"):
        if key in kwargs and isinstance(kwargs[key], np.ndarray) and kwargs[key].ndim:
            raise TypeError(f"Unsupported type {type(kwargs[key])}")
    _core.record("launch", "pad")
    return _view(np.pad(a._a, pad_width, mode=mode, **kwargs), a)


def shape(a):
    return a.shape if isinstance(a, ndarray) else np.shape(a)


def ndim(a):
    return a.ndim if isinstance(a, ndarray) else np.ndim(a)


def size(a, axis=None):
    return (a.size if axis is None else a.shape[axis]) if isinstance(a, ndarray) else np.size(a)


# ---- elementwise and reductions -----------------------------------------------------------------

# (these shadow Python's any, all, sum, max, min, abs and round inside this module, as in
# CuPy's namespace: the code here calls builtins.any where it means Python's)
globals().update(_core.UFUNCS)
globals().update(_core.REDUCTIONS)
amax, amin = _core.REDUCTIONS["max"], _core.REDUCTIONS["min"]


def where(condition, x=None, y=None):
    if x is None and y is None:
        return nonzero(condition)
    for a in (condition, x, y):
        if isinstance(a, _core.FusionProbe):
            return _core.FusionProbe.apply("where", (x, y))
    operands = [_core.kernel_operand(a) for a in (condition, x, y)]
    _core.record("launch", "where")
    return _new(np.where(*operands))


def clip(a, a_min=None, a_max=None, out=None):
    a = _device_array(a)
    lo = None if a_min is None else _core.kernel_operand(a_min)
    hi = None if a_max is None else _core.kernel_operand(a_max)
    _core.record("launch", "clip")
    value = np.clip(a._a, lo, hi, out=None if out is None else _device_array(out)._a)
    return out if out is not None else _view(value, a)


def around(a, decimals=0, out=None):
    a = _device_array(a)
    _core.record("launch", "round")
    value = np.around(a._a, decimals, out=None if out is None else _device_array(out)._a)
    return out if out is not None else _view(value, a)


round = around  # noqa: A001 - CuPy's name


def copyto(dst, src, casting="same_kind", where=None):
    dst = _device_array(dst)
    value = _core.kernel_operand(src)
    mask = True if where is None else _core.kernel_operand(where)
    _core.record("launch", "copyto")
    np.copyto(dst._a, value, casting=casting, where=mask)


def cumsum(a, axis=None, dtype=None, out=None):
    a = _device_array(a)
    _core.record("launch", "cumsum")
    value = np.cumsum(a._a, axis, dtype, None if out is None else _device_array(out)._a)
    return out if out is not None else _view(value, a)


def count_nonzero(a, axis=None):
    a = _device_array(a)
    _core.record("launch", "count_nonzero")
    return _view(np.asarray(np.count_nonzero(a._a, axis=axis)), a)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A 0-d device bool, as CuPy's (reading it is a synchronisation)."""
    _core.record("launch", "allclose")
    return _new(
        np.asarray(
            np.allclose(_core.kernel_operand(a), _core.kernel_operand(b), rtol, atol, equal_nan)
        )
    )


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    _core.record("launch", "isclose")
    return _new(np.isclose(_core.kernel_operand(a), _core.kernel_operand(b), rtol, atol, equal_nan))


def array_equal(a1, a2, equal_nan=False):
    _core.record("launch", "array_equal")
    same = np.array_equal(_core.kernel_operand(a1), _core.kernel_operand(a2), equal_nan)
    return _new(np.asarray(same))


# ---- indexing, sorting, searching ---------------------------------------------------------------


def take(a, indices, axis=None, out=None):
    a = _device_array(a)
    idx, _ = _core._index_part(indices, "take") if not isinstance(indices, int) else (indices, 0)
    _core.record("launch", "take")
    value = np.take(a._a, idx, axis=axis, out=None if out is None else _device_array(out)._a)
    return out if out is not None else _view(value, a)


def take_along_axis(a, indices, axis):
    a, indices = _device_array(a), _device_array(indices)
    _core.record("launch", "take_along_axis")
    return _view(np.take_along_axis(a._a, indices._a, axis), a)


def argsort(a, axis=-1, kind=None):
    a = _device_array(a)
    _core.record("launch", "argsort")
    return _view(np.argsort(a._a, axis=axis, kind="stable"), a)


def sort(a, axis=-1, kind=None):
    a = _device_array(a)
    _core.record("launch", "sort")
    return _view(np.sort(a._a, axis=axis, kind="stable"), a)


def nonzero(a):
    """Indices of the non-zero elements: their number must be read back (a synchronisation)."""
    a = _device_array(a)
    _core.record("launch", "nonzero")
    _core.record("sync", "nonzero")
    return tuple(_view(i, a) for i in np.nonzero(a._a))


def flatnonzero(a):
    return nonzero(ravel(a))[0]


def argwhere(a):
    a = _device_array(a)
    _core.record("launch", "argwhere")
    _core.record("sync", "argwhere")
    return _view(np.argwhere(a._a), a)


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None):
    a = _device_array(ar)
    _core.record("launch", "unique")
    _core.record("sync", "unique")
    out = np.unique(a._a, return_index, return_inverse, return_counts, axis)
    return tuple(_view(o, a) for o in out) if isinstance(out, tuple) else _view(out, a)


def searchsorted(a, v, side="left", sorter=None):
    a = _device_array(a)
    _core.record("launch", "searchsorted")
    return _view(np.asarray(np.searchsorted(a._a, _core.kernel_operand(v), side)), a)


# ---- linear algebra -----------------------------------------------------------------------------


def matmul(a, b, out=None, **kwargs):
    """A matrix product (cuBLAS on a GPU: the stand-in computes it with NumPy, in float64
    where NumPy does; it does not reproduce cuBLAS's summation order or TF32 modes)."""
    x, y = _device_array(a), _device_array(b)
    _core.record("launch", "matmul")
    value = np.matmul(x._a, y._a, out=None if out is None else _device_array(out)._a, **kwargs)
    return out if out is not None else _new(value)


def dot(a, b, out=None):
    x, y = _device_array(a), _device_array(b)
    _core.record("launch", "dot")
    value = np.dot(x._a, y._a, out=None if out is None else _device_array(out)._a)
    return out if out is not None else _new(value)


def tensordot(a, b, axes=2):
    x, y = _device_array(a), _device_array(b)
    _core.record("launch", "tensordot")
    return _new(np.tensordot(x._a, y._a, axes))


def einsum(subscripts, *operands, **kwargs):
    arrays = [_device_array(a)._a for a in operands]
    out = kwargs.pop("out", None)
    if out is not None:
        kwargs["out"] = _device_array(out)._a
    kwargs.pop("optimize", None)
    _core.record("launch", "einsum")
    value = np.einsum(subscripts, *arrays, **kwargs)
    return out if out is not None else _new(value)


def outer(a, b, out=None):
    x, y = _device_array(a), _device_array(b)
    _core.record("launch", "outer")
    return _new(np.outer(x._a, y._a))


# ---- kernels ------------------------------------------------------------------------------------


class Fusion:
    """``cupy.fuse(f)``: on device arrays, one kernel that computes ``f`` elementwise.

    The stand-in first traces ``f`` with ``_core.FusionProbe`` objects (so a function that reads a
    value as a Python bool or number, asks for ``.shape`` or indexes fails as under CuPy's
    fusion), then runs ``f`` itself on the NumPy arrays inside (its NumPy twin) and counts
    one launch. Called with NumPy arrays only, ``f`` runs on NumPy, as CuPy's fuse does.
    """

    def __init__(self, func, kernel_name=None):
        self.func = func
        self.name = kernel_name or func.__name__
        self.__name__ = func.__name__
        self.__doc__ = func.__doc__

    def __call__(self, *args):
        if not builtins.any(isinstance(a, ndarray) for a in args):
            return self.func(*args)
        operands = [_core.kernel_operand(a) for a in args]  # host arrays raise, as in CuPy
        self.func(
            *(
                _core.FusionProbe(np.asarray(a).dtype) if isinstance(a, np.ndarray) else a
                for a in operands
            )
        )
        _core.record("launch", f"fuse:{self.name}")
        value = self.func(*operands)
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(_new(np.asarray(v)) for v in value)
        return _new(np.asarray(value))


def fuse(*args, **kwargs):
    """``@cupy.fuse``, ``@cupy.fuse()`` or ``@cupy.fuse(kernel_name=...)``."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return Fusion(args[0])
    return lambda f: Fusion(f, kwargs.get("kernel_name"))


# ---- the numpy parts CuPy re-exports ------------------------------------------------------------

for _name in (
    "bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 intp uintp float16 "
    "float32 float64 complex64 complex128 single double half dtype finfo iinfo "
    "result_type can_cast promote_types issubdtype isscalar integer floating "
    "number inexact signedinteger unsignedinteger generic newaxis inf nan pi "
    "e"
).split():
    globals()[_name] = getattr(np, _name)

lib = types.ModuleType("cupy.lib")
lib.stride_tricks = types.ModuleType("cupy.lib.stride_tricks")


def _as_strided(x, shape=None, strides=None):
    """A view of ``x`` with the given shape and strides (no copy, no launch)."""
    a = _device_array(x)
    return _view(np.lib.stride_tricks.as_strided(a._a, shape, strides), a)


_as_strided.__name__ = "as_strided"
lib.stride_tricks.as_strided = _as_strided

_INTERNAL = {"annotations", "builtins", "types", "np", "Fusion", "EXPORTED"}
EXPORTED = sorted(
    name
    for name, value in globals().items()
    if not name.startswith("_")
    and name not in _INTERNAL
    and (not isinstance(value, types.ModuleType) or name in ("cuda", "lib"))
)
__all__ = list(EXPORTED)
del _name
