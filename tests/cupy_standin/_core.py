"""The stand-in's device array, its ufuncs and reductions, and the event counters.

``ndarray`` holds a NumPy array (``_a``) and the id of the simulated device it lives on.
Everything that CuPy does on the GPU is done here with NumPy on ``_a``; everything CuPy
refuses (a host array where a device array must be, an implicit conversion to NumPy) is
refused here with CuPy's exception and message; everything that costs a GPU program a
synchronisation, a host->device copy or a kernel launch is counted (see ``record``).
"""

from __future__ import annotations

import collections
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# ---- simulated devices --------------------------------------------------------------------------

_local = threading.local()  # CUDA's current device is per host thread, as here
_device_count = 1


def device_count() -> int:
    return _device_count


def set_device_count(n: int) -> None:
    """Simulate ``n`` CUDA devices (tests of device selection); 1 by default."""
    global _device_count
    if int(n) < 1:
        raise ValueError(f"set_device_count: expected n >= 1, got {n}")
    _device_count = int(n)


def current_device() -> int:
    return getattr(_local, "device", 0)


def set_current_device(device_id: int) -> None:
    from tests.cupy_standin import runtime

    if not 0 <= int(device_id) < _device_count:
        raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    _local.device = int(device_id)


# ---- counting -----------------------------------------------------------------------------------

_HERE = str(Path(__file__).resolve().parent)
_lock = threading.Lock()
_recorders: list[Counts] = []


class Counts:
    """What a GPU would have been asked to do while this recorder was active.

    * ``syncs``: device->host synchronisations (the host waits for the GPU): ``.get()``,
      ``asnumpy``, ``.item()``, ``int()``/``float()``/``bool()`` of an array, printing one,
      boolean-mask indexing (its result's size must be read back), ``nonzero``, explicit
      ``synchronize()`` calls.
    * ``h2d``: host->device copies: ``asarray``/``array`` of host data, ``.set()``, host index
      arrays and host values in advanced indexing.
    * ``launches``: kernel launches: each ufunc, reduction, copy, fill, matrix product and
      advanced indexing call (basic slicing, reshapes that need no copy, transposes and
      strided views launch nothing). ``launch_names`` counts them by name.
    * ``sync_sites``/``h2d_sites``: where each happened (the first caller outside the
      stand-in), so a failing budget names the line.
    """

    def __init__(self, sites: bool = False):
        self.sites = sites  # also count launches by the function that asked for them
        self.launch_sites: collections.Counter = collections.Counter()
        self.syncs = 0
        self.h2d = 0
        self.d2h = 0
        self.launches = 0
        self.launch_names: collections.Counter = collections.Counter()
        self.sync_sites: list[str] = []
        self.h2d_sites: list[str] = []

    def __repr__(self) -> str:
        top = ", ".join(f"{k} {v}" for k, v in self.launch_names.most_common(8))
        return (
            f"Counts(syncs={self.syncs}, h2d={self.h2d}, d2h={self.d2h}, "
            f"launches={self.launches}: {top})"
        )


def _caller() -> str:
    """``file:line in function`` of the first frame outside the stand-in."""
    for frame in reversed(traceback.extract_stack(limit=30)[:-1]):
        if not frame.filename.startswith(_HERE):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "?"


def _function() -> str:
    """``module.function`` of the first frame outside the stand-in."""
    for frame in reversed(traceback.extract_stack(limit=30)[:-1]):
        if not frame.filename.startswith(_HERE):
            return f"{Path(frame.filename).stem}.{frame.name}"
    return "?"


def record(kind: str, name: str = "") -> None:
    """Count one event of ``kind`` ("sync", "h2d", "d2h" or "launch") in every active recorder."""
    if not _recorders:
        return
    site = _caller() if kind in ("sync", "h2d") else None
    function = _function() if kind == "launch" and any(c.sites for c in _recorders) else None
    with _lock:
        for counts in _recorders:
            if kind == "launch":
                counts.launches += 1
                counts.launch_names[name] += 1
                if counts.sites:
                    counts.launch_sites[function] += 1
            elif kind == "sync":
                counts.syncs += 1
                counts.sync_sites.append(f"{name} at {site}")
            elif kind == "h2d":
                counts.h2d += 1
                counts.h2d_sites.append(f"{name} at {site}")
            else:
                counts.d2h += 1


@contextmanager
def counting(sites: bool = False):
    """``with counting() as counts:`` counts what the block asks of the GPU (all threads);
    ``sites=True`` also counts launches by the function that made them (slower)."""
    counts = Counts(sites)
    with _lock:
        _recorders.append(counts)
    try:
        yield counts
    finally:
        with _lock:
            _recorders.remove(counts)


# ---- the array ----------------------------------------------------------------------------------

_IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. "
    "Please use `.get()` to construct a NumPy array explicitly."
)
_SCALARS = (bool, int, float, complex, np.generic)


def _wrap(a, device_id: int | None = None) -> ndarray:
    """A device array around the NumPy array ``a`` (a NumPy scalar becomes a 0-d array)."""
    out = object.__new__(ndarray)
    out._a = a if type(a) is np.ndarray else np.asarray(a)
    out._device_id = current_device() if device_id is None else device_id
    return out


def _unsupported(x) -> TypeError:
    return TypeError(f"Unsupported type {type(x)}")


def _check_device(x: ndarray) -> None:
    """CuPy runs a kernel on the current device; an array elsewhere needs peer access."""
    here = current_device()
    if x._device_id != here:
        raise ValueError(
            f"The device where the array resides ({x._device_id}) is different from the "
            f"current device ({here}). Peer access is unavailable between these devices."
        )


def kernel_operand(x):
    """What a kernel may take: a device array on the current device or a host *scalar*.

    A NumPy array of any shape (0-d too), a list or anything else raises CuPy's
    ``TypeError: Unsupported type``: nothing crosses from the host implicitly.
    """
    if isinstance(x, ndarray):
        _check_device(x)
        return x._a
    if isinstance(x, _SCALARS):
        return x
    raise _unsupported(x)


def _out_operand(out):
    if out is None:
        return None
    if isinstance(out, tuple):
        if len(out) != 1:
            raise ValueError("The 'out' parameter must have exactly one array value")
        out = out[0]
    if not isinstance(out, ndarray):
        raise TypeError("Output arguments must be cupy.ndarray")
    _check_device(out)
    return out


def _result(value, out=None):
    if out is not None:
        return out
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return _wrap(value)


class ufunc:
    """An elementwise function run as one kernel (a NumPy ufunc on the device arrays)."""

    def __init__(self, np_ufunc):
        self._np = np_ufunc
        self.__name__ = self.name = np_ufunc.__name__
        self.nin, self.nout, self.nargs = np_ufunc.nin, np_ufunc.nout, np_ufunc.nargs
        self.__doc__ = f"CuPy stand-in for numpy.{self.name} (one kernel)."

    def __repr__(self) -> str:
        return f"<ufunc '{self.name}'>"

    def __call__(self, *args, out=None, dtype=None, casting="same_kind", **kwargs):
        if len(args) > self.nin:  # out given positionally
            args, out = args[: self.nin], args[self.nin]
        if len(args) != self.nin:
            raise TypeError(f"Wrong number of arguments for {self.name}")
        if any(isinstance(a, FusionProbe) for a in (*args, out)):
            return FusionProbe.apply(self.name, args, out)
        operands = [kernel_operand(a) for a in args]
        out = _out_operand(out)
        if "where" in kwargs:
            kwargs["where"] = kernel_operand(kwargs["where"])
        record("launch", self.name)
        value = self._np(
            *operands, out=None if out is None else out._a, dtype=dtype, casting=casting, **kwargs
        )
        return _result(value, out)


class FusionProbe:
    """What a function under ``cupy.fuse`` is traced with: it allows elementwise arithmetic
    (operators, in-place operators, the stand-in's ufuncs, ``x[...] = y``) and refuses what
    CuPy's fusion refuses (reading a value as a Python bool or number, ``.shape``, indexing).
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    @classmethod
    def apply(cls, name, args, out=None):
        dtypes = [a.dtype if isinstance(a, FusionProbe) else np.asarray(a).dtype for a in args]
        if out is not None:
            return out
        return cls(np.result_type(*dtypes) if name not in _BOOL_RESULTS else np.bool_)

    def __bool__(self):
        raise TypeError("Cannot convert to Python scalar in cupy.fuse")

    __int__ = __float__ = __index__ = __bool__

    @property
    def shape(self):
        raise NotImplementedError("`shape` is not supported, currently.")

    def __getitem__(self, key):
        raise ValueError("The fusion supports `[...]` or `[:]`.")

    def __setitem__(self, key, value):
        if key is not Ellipsis and key != slice(None):
            raise ValueError("The fusion supports `[...]` or `[:]`.")

    def astype(self, dtype, copy=True):
        return FusionProbe(dtype)

    def copy(self):
        return self


def _probe_binary(name, reflected=False):
    def op(self, other):
        return UFUNCS[name](other, self) if reflected else UFUNCS[name](self, other)

    return op


def _probe_inplace(name):
    def op(self, other):
        return UFUNCS[name](self, other, out=self)

    return op


for _name, _ufunc in (
    ("add", "add"),
    ("sub", "subtract"),
    ("mul", "multiply"),
    ("truediv", "true_divide"),
    ("pow", "power"),
):
    setattr(FusionProbe, f"__{_name}__", _probe_binary(_ufunc))
    setattr(FusionProbe, f"__r{_name}__", _probe_binary(_ufunc, True))
    setattr(FusionProbe, f"__i{_name}__", _probe_inplace(_ufunc))
for _name, _ufunc in (
    ("lt", "less"),
    ("le", "less_equal"),
    ("gt", "greater"),
    ("ge", "greater_equal"),
    ("eq", "equal"),
    ("ne", "not_equal"),
):
    setattr(FusionProbe, f"__{_name}__", _probe_binary(_ufunc))
FusionProbe.__neg__ = lambda self: UFUNCS["negative"](self)
FusionProbe.__hash__ = None
_BOOL_RESULTS = {
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "equal",
    "not_equal",
    "isfinite",
    "isinf",
    "isnan",
    "signbit",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
}


def reduction(name):
    """A NumPy reduction (``numpy.<name>``) as one kernel returning a device array (0-d too)."""
    np_fn = getattr(np, name)

    def reduce(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        if not isinstance(a, ndarray):
            raise _unsupported(a)
        _check_device(a)
        out = _out_operand(out)
        if dtype is not None:
            kwargs["dtype"] = dtype
        record("launch", name)
        value = np_fn(
            a._a, axis=axis, out=None if out is None else out._a, keepdims=keepdims, **kwargs
        )
        return _result(value, out)

    reduce.__name__ = name
    reduce.__doc__ = f"CuPy stand-in for numpy.{name} (one kernel; a 0-d array for a total)."
    return reduce


# ---- indexing -----------------------------------------------------------------------------------


def _index_part(part, counts_as):
    """One element of an index, as NumPy takes it; counts what CuPy would do with it."""
    if part is None or part is Ellipsis or isinstance(part, slice):
        return part, False
    if isinstance(part, (bool, np.bool_)):
        return part, True
    if isinstance(part, (int, np.integer)):
        return part, False
    if isinstance(part, ndarray):
        _check_device(part)
        if part.dtype.kind == "b":
            record("sync", f"boolean-mask {counts_as}")  # the result's size is read back
        return part._a, True
    if isinstance(part, (list, tuple, np.ndarray)):  # CuPy copies host indices to the device
        host = np.asarray(part)
        record("h2d", f"host index array in {counts_as}")
        if host.dtype.kind == "b":
            record("sync", f"boolean-mask {counts_as}")
        return host, True
    raise IndexError(
        "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and integer "
        "or boolean arrays are valid indices"
    )


def _index(key, counts_as, shape=None):
    """(NumPy key, whether it is advanced indexing).

    With ``shape``, integer index arrays wrap around as CuPy's do (its kernels take indices
    modulo the axis length: an index out of bounds is not an error on a GPU)."""
    parts = key if isinstance(key, tuple) else (key,)
    converted, advanced = [], False
    for part in parts:
        p, adv = _index_part(part, counts_as)
        converted.append(p)
        advanced = advanced or adv
    if advanced and shape is not None:
        converted = _wrap_indices(converted, shape)
    if not advanced and not any(p is Ellipsis for p in converted):
        converted.append(Ellipsis)  # integer indices then give a 0-d view, as CuPy does
    return tuple(converted), advanced


def _wrap_indices(parts: list, shape: tuple) -> list:
    """Integer index arrays taken modulo the length of the axis each indexes."""

    def width(p):  # how many axes of the array an index part consumes
        if p is None or p is Ellipsis:
            return 0
        return p.ndim if isinstance(p, np.ndarray) and p.dtype.kind == "b" else 1

    rest = len(shape) - sum(width(p) for p in parts)
    out, axis = [], 0
    for p in parts:
        if p is Ellipsis:
            axis += rest
        elif isinstance(p, np.ndarray) and p.dtype.kind in "iu" and axis < len(shape):
            p = np.mod(p, shape[axis]) if shape[axis] else p
        out.append(p)
        axis += width(p)
    return out


# ---- the array class ----------------------------------------------------------------------------


def _binary(name, reflected=False):
    def op(self, other):
        if getattr(other, "__array_ufunc__", 0) is None:  # e.g. a learnres Tensor: its turn
            return NotImplemented
        f = UFUNCS[name]
        return f(other, self) if reflected else f(self, other)

    return op


def _inplace(name):
    def op(self, other):
        return UFUNCS[name](self, other, out=self)

    return op


class ndarray:
    """A multi-dimensional array on a (simulated) CUDA device: CuPy's ``cupy.ndarray``.

    Not a NumPy array: NumPy cannot see inside it (``numpy.asarray`` raises CuPy's
    "Implicit conversion to a NumPy array is not allowed"); ``.get()`` copies it to the
    host (a synchronisation). Reductions return 0-d arrays that stay on the device.
    """

    __slots__ = ("_a", "_device_id", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("the CuPy stand-in has no memory pointers")
        self._a = np.empty(shape, dtype=dtype, order=order)
        self._device_id = current_device()

    # ---- facts (no device work) ----
    @property
    def shape(self) -> tuple:
        return self._a.shape

    @shape.setter
    def shape(self, value) -> None:
        self._a.shape = value

    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)

    @property
    def base(self):
        return None if self._a.base is None else _wrap(self._a.base, self._device_id)

    @property
    def device(self):
        from tests.cupy_standin.cuda import Device

        return Device(self._device_id)

    @property
    def T(self):
        return _wrap(self._a.T, self._device_id)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self)))

    # ---- the host boundary ----
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def get(self, stream=None, order="C", out=None):
        """A NumPy copy on the host (waits for the device: a synchronisation)."""
        record("sync", "ndarray.get")
        record("d2h", "ndarray.get")
        if out is not None:
            if not isinstance(out, np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
            if out.shape != self.shape or out.dtype != self.dtype:
                raise ValueError(
                    f"Shape mismatch. Expected shape: {self.shape}, actual shape: {out.shape}"
                )
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None) -> None:
        """Copy the NumPy array ``arr`` (same shape and dtype) into this array."""
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        record("h2d", "ndarray.set")
        self._a[...] = arr

    def item(self):
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        return self.get().item()

    def tolist(self):
        return self.get().tolist()

    def __int__(self):
        return int(self.get())

    def __float__(self):
        return float(self.get())

    def __complex__(self):
        return complex(self.get())

    def __bool__(self):
        if self.size != 1:
            raise ValueError(
                "The truth value of an array with more than one element is "
                "ambiguous. Use a.any() or a.all()"
            )
        return bool(self.get())

    def __repr__(self) -> str:
        return repr(self.get())

    def __str__(self) -> str:
        return str(self.get())

    def __format__(self, spec) -> str:
        return format(self.get(), spec)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        from tests.cupy_standin import cupy

        return cupy.array, (self.get(),)

    # ---- NumPy's protocols: ufuncs and functions dispatch to the stand-in's ----
    def __array_ufunc__(self, np_ufunc, method, *inputs, **kwargs):
        own = UFUNCS.get(np_ufunc.__name__)
        if method != "__call__" or own is None:
            return NotImplemented
        return own(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from tests.cupy_standin import cupy

        module = cupy
        for part in func.__module__.split(".")[1:]:
            module = getattr(module, part, None)
            if module is None:
                return NotImplemented
        own = getattr(module, func.__name__, None)
        if (
            own is None
            or own is func
            or not all(issubclass(t, (ndarray, np.ndarray)) for t in types)
        ):
            return NotImplemented
        return own(*args, **kwargs)

    # ---- indexing ----
    def __getitem__(self, key):
        _check_device(self)
        np_key, advanced = _index(key, "getitem", self.shape)
        if advanced:
            record("launch", "take")
        return _wrap(self._a[np_key], self._device_id)

    def __setitem__(self, key, value):
        _check_device(self)
        np_key, advanced = _index(key, "setitem", self.shape)
        if isinstance(value, ndarray):
            _check_device(value)
            value = value._a
        elif isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        elif isinstance(value, (np.ndarray, list, tuple)):
            if not advanced:  # CuPy fills a basic slice: only a scalar may come from the host
                if isinstance(value, np.ndarray):
                    raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
                raise _unsupported(value)
            record("h2d", "host values in advanced setitem")
            value = np.asarray(value)
        elif not isinstance(value, _SCALARS):
            raise _unsupported(value)
        record("launch", "scatter" if advanced else "copy")
        self._a[np_key] = value

    # ---- arithmetic: the operators are the ufuncs ----
    __add__, __radd__ = _binary("add"), _binary("add", True)
    __sub__, __rsub__ = _binary("subtract"), _binary("subtract", True)
    __mul__, __rmul__ = _binary("multiply"), _binary("multiply", True)
    __truediv__, __rtruediv__ = _binary("true_divide"), _binary("true_divide", True)
    __floordiv__, __rfloordiv__ = _binary("floor_divide"), _binary("floor_divide", True)
    __mod__, __rmod__ = _binary("remainder"), _binary("remainder", True)
    __pow__, __rpow__ = _binary("power"), _binary("power", True)
    __and__, __rand__ = _binary("bitwise_and"), _binary("bitwise_and", True)
    __or__, __ror__ = _binary("bitwise_or"), _binary("bitwise_or", True)
    __xor__, __rxor__ = _binary("bitwise_xor"), _binary("bitwise_xor", True)
    __lt__, __le__ = _binary("less"), _binary("less_equal")
    __gt__, __ge__ = _binary("greater"), _binary("greater_equal")
    __eq__, __ne__ = _binary("equal"), _binary("not_equal")
    __iadd__, __isub__, __imul__ = _inplace("add"), _inplace("subtract"), _inplace("multiply")
    __itruediv__, __ipow__ = _inplace("true_divide"), _inplace("power")
    __ifloordiv__, __imod__ = _inplace("floor_divide"), _inplace("remainder")
    __iand__, __ior__, __ixor__ = (
        _inplace("bitwise_and"),
        _inplace("bitwise_or"),
        _inplace("bitwise_xor"),
    )
    __hash__ = None

    def __neg__(self):
        return UFUNCS["negative"](self)

    def __pos__(self):
        return UFUNCS["positive"](self)

    def __abs__(self):
        return UFUNCS["absolute"](self)

    def __invert__(self):
        return UFUNCS["invert"](self)

    def __matmul__(self, other):
        if getattr(other, "__array_ufunc__", 0) is None:
            return NotImplemented
        from tests.cupy_standin import cupy

        return cupy.matmul(self, other)

    def __rmatmul__(self, other):
        from tests.cupy_standin import cupy

        return cupy.matmul(other, self)

    # ---- methods (each as CuPy counts it) ----
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        _check_device(self)
        record("launch", "astype")
        return _wrap(self._a.astype(dtype, order=order), self._device_id)

    def copy(self, order="C"):
        _check_device(self)
        record("launch", "copy")
        return _wrap(self._a.copy(order=order), self._device_id)

    def fill(self, value) -> None:
        if isinstance(value, np.ndarray):
            if value.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = value.item()
        self[...] = value

    def view(self, dtype=None):
        return _wrap(self._a.view() if dtype is None else self._a.view(dtype), self._device_id)

    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 else shape
        out = self._a.reshape(shape, order=order)
        if not np.may_share_memory(out, self._a):
            record("launch", "copy")
        return _wrap(out, self._device_id)

    def ravel(self, order="C"):
        return self.reshape(-1, order=order)

    def flatten(self, order="C"):
        return self.copy(order).reshape(-1)

    def transpose(self, *axes):
        return _wrap(self._a.transpose(*axes), self._device_id)

    def swapaxes(self, axis1, axis2):
        return _wrap(self._a.swapaxes(axis1, axis2), self._device_id)

    def squeeze(self, axis=None):
        return _wrap(self._a.squeeze(axis), self._device_id)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return REDUCTIONS["sum"](self, axis, dtype, out, keepdims)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False):
        return REDUCTIONS["prod"](self, axis, dtype, out, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return REDUCTIONS["mean"](self, axis, dtype, out, keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return REDUCTIONS["var"](self, axis, dtype, out, keepdims, ddof=ddof)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return REDUCTIONS["std"](self, axis, dtype, out, keepdims, ddof=ddof)

    def max(self, axis=None, out=None, keepdims=False):
        return REDUCTIONS["max"](self, axis, None, out, keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        return REDUCTIONS["min"](self, axis, None, out, keepdims)

    def argmax(self, axis=None, out=None, keepdims=False):
        return REDUCTIONS["argmax"](self, axis, None, out, keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        return REDUCTIONS["argmin"](self, axis, None, out, keepdims)

    def any(self, axis=None, out=None, keepdims=False):
        return REDUCTIONS["any"](self, axis, None, out, keepdims)

    def all(self, axis=None, out=None, keepdims=False):
        return REDUCTIONS["all"](self, axis, None, out, keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        from tests.cupy_standin import cupy

        return cupy.cumsum(self, axis, dtype, out)

    def clip(self, min=None, max=None, out=None):
        from tests.cupy_standin import cupy

        return cupy.clip(self, min, max, out=out)

    def dot(self, b, out=None):
        from tests.cupy_standin import cupy

        return cupy.dot(self, b, out=out)

    def take(self, indices, axis=None, out=None):
        from tests.cupy_standin import cupy

        return cupy.take(self, indices, axis=axis, out=out)

    def repeat(self, repeats, axis=None):
        from tests.cupy_standin import cupy

        return cupy.repeat(self, repeats, axis)

    def nonzero(self):
        from tests.cupy_standin import cupy

        return cupy.nonzero(self)

    def argsort(self, axis=-1):
        from tests.cupy_standin import cupy

        return cupy.argsort(self, axis)

    def round(self, decimals=0, out=None):
        from tests.cupy_standin import cupy

        return cupy.around(self, decimals, out)


# ---- the ufunc and reduction tables -------------------------------------------------------------

UFUNC_NAMES = (
    "add subtract multiply divide true_divide floor_divide remainder power negative positive "
    "absolute sign square sqrt cbrt reciprocal exp exp2 expm1 log log2 log10 log1p "
    "sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh arctanh "
    "maximum minimum fmax fmin floor ceil trunc rint isfinite isinf isnan signbit copysign "
    "greater greater_equal less less_equal equal not_equal "
    "logical_and logical_or logical_xor logical_not "
    "bitwise_and bitwise_or bitwise_xor invert left_shift right_shift hypot"
).split()
UFUNCS = {name: ufunc(getattr(np, name)) for name in UFUNC_NAMES}
UFUNCS["abs"] = UFUNCS["absolute"]
UFUNCS["bitwise_not"] = UFUNCS["invert"]

REDUCTION_NAMES = (
    "sum prod mean var std max min argmax argmin any all nansum nanmax nanmin"
).split()
REDUCTIONS = {name: reduction(name) for name in REDUCTION_NAMES}


def as_device(a, dtype=None, copy=False):
    """``a`` on the current device: device arrays pass (cast or copied when asked);
    host data is copied over (counted)."""
    if isinstance(a, ndarray):
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        if a._device_id != current_device():  # a peer copy onto this device
            record("launch", "copy")
            return _wrap(a._a.copy(), current_device())
        return a.copy() if copy else a
    if hasattr(a, "__cuda_array_interface__"):
        raise _unsupported(a)
    record("h2d", "asarray of host data")
    host = np.array(a, dtype=dtype, copy=True)
    return _wrap(host)


__all__ = [
    "Counts",
    "FusionProbe",
    "counting",
    "current_device",
    "device_count",
    "kernel_operand",
    "ndarray",
    "record",
    "set_current_device",
    "set_device_count",
    "ufunc",
    "UFUNCS",
    "REDUCTIONS",
    "as_device",
]
