"""``Tensor``: an array that remembers how it was made, so gradients can flow back.

    x = Tensor(np.random.randn(3, 4), requires_grad=True)
    y = (x * x).sum()
    y.backward()        # x.grad == 2 * x.data

``.data`` is the NumPy or CuPy array, ``.grad`` a plain array of the same shape and dtype
(or None). Only leaves (tensors made by the user, e.g. parameters) keep ``.grad``; call
``retain_grad()`` on an intermediate tensor to keep its gradient too. A leaf with a
``grad_buffer`` (an optimizer's flat buffer, ``learnres.optim.flat``) gets its gradient
written there: copy ``.grad`` to keep it past the next backward.
"""

from __future__ import annotations

import numbers

import numpy as np

from learnres.autograd import graph
from learnres.autograd.errors import OpError
from learnres.backend import asnumpy, canonical_device, device_of, get_array_module

__all__ = ["Tensor", "as_tensor", "DEFAULT_DTYPE", "use_ops"]

DEFAULT_DTYPE = np.float32

# ---- the ops behind the operators ---------------------------------------------------------
# ``a + b``, ``x.sum()``, ``x.relu()`` run the ops of ``learnres.functions`` (``F.add``,
# ``F.sum``, ``F.relu``). Those ops are built on Tensor and Function, one layer above this
# module, so it cannot import them. Instead ``learnres/functions/__init__.py`` hands its module
# over with ``use_ops`` as it finishes loading. Any ``import learnres...`` has loaded it before
# the importer's next line runs: Python runs ``learnres/__init__.py`` first, which imports
# ``learnres.functions`` (tests/autograd/test_imports.py tries the orders).
F = None  # the module learnres.functions, once use_ops has run


def use_ops(functions) -> None:
    """Make Tensor's operators and methods call the ops of ``functions`` (the module
    ``learnres.functions``, which calls this once, as it loads)."""
    global F
    F = functions


def _to_array(data):
    xp = get_array_module(data)
    if isinstance(data, xp.ndarray):
        return data
    if isinstance(data, np.generic):  # a NumPy scalar such as np.float32(1.5)
        return np.asarray(data)
    array = np.asarray(data)
    if array.dtype == np.float64:  # Python floats and lists of them: the default dtype
        array = array.astype(DEFAULT_DTYPE)
    return array


class Tensor:
    """An n-dimensional array with an optional gradient.

    Arguments:
        data: a NumPy/CuPy array (kept as is, no copy), or a Python scalar or nested list
            (converted; floats become float32, the default dtype).
        requires_grad: whether gradients should be computed for this tensor.
    """

    __slots__ = (
        "data",
        "grad",
        "requires_grad",
        "creator",
        "retains_grad",
        "grad_buffer",
        "__weakref__",
    )
    __array_ufunc__ = None  # ndarray + Tensor calls Tensor.__radd__, not NumPy's ufunc
    __array_priority__ = 1000  # the same for CuPy

    def __init__(self, data, requires_grad: bool = False):
        data = _to_array(data)
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {data.dtype} "
                f"(shape {data.shape}); convert with .astype(np.float32) first"
            )
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.creator = None  # the Function that made this tensor, None for a leaf
        self.retains_grad = False
        self.grad_buffer = None  # where backward puts this leaf's gradient (else a new array)

    # ---- array facts -----------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(asnumpy(self.data), separator=", ", threshold=20, precision=4)
        extra = f", device={self.device!r}" if self.device != "cpu" else ""
        if self.creator is not None:
            extra += f", grad_fn={self.creator.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    # ---- conversion --------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy from the GPU; shared memory on the CPU)."""
        return asnumpy(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return asnumpy(self.data).item()  # from a GPU: a read-back (the host waits)

    def to(self, device: str) -> Tensor:
        """This tensor on ``device`` ("cpu", "cuda" or "cuda:N"); gradients flow back across."""
        if device_of(self.data) == canonical_device(device):
            return self
        return F.to_device(self, device)

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def astype(self, dtype) -> Tensor:
        """A copy in another dtype (differentiable for float dtypes)."""
        return F.astype(self, dtype)

    # ---- autograd ----------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Compute gradients of this tensor with respect to every leaf that requires grad.

        Arguments:
            grad: dL/dself, an array or Tensor shaped like self; may be left out only when
                self has one element (then it is 1).
            retain_graph: keep the graph's buffers so backward can run through it again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                f"backward() on a tensor that does not require grad (shape {self.shape}): "
                "no input of the computation had requires_grad=True"
            )
        xp = get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() on a tensor of shape {self.shape} needs grad=dL/dtensor of "
                    "that shape; only one-element tensors get an implicit grad of 1"
                )
            grad = xp.ones_like(self.data)
        grad = grad.data if isinstance(grad, Tensor) else grad
        if device_of(grad) != self.device:
            raise OpError(f"backward(): grad is on {device_of(grad)}, tensor on {self.device}")
        grad = xp.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise OpError(f"backward(): grad has shape {grad.shape}, tensor has {self.shape}")
        graph.backward(self, grad, retain_graph=retain_graph)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self.retains_grad = True
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # ---- operators -----------------------------------------------------------------------
    def __add__(self, other):
        return F.add(self, other)

    def __radd__(self, other):
        return F.add(other, self)

    def __sub__(self, other):
        return F.sub(self, other)

    def __rsub__(self, other):
        return F.sub(other, self)

    def __mul__(self, other):
        return F.mul(self, other)

    def __rmul__(self, other):
        return F.mul(other, self)

    def __truediv__(self, other):
        return F.div(self, other)

    def __rtruediv__(self, other):
        return F.div(other, self)

    def __matmul__(self, other):
        return F.matmul(self, other)

    def __rmatmul__(self, other):
        return F.matmul(other, self)

    def __pow__(self, exponent):
        return F.pow(self, exponent)

    def __neg__(self):
        return F.neg(self)

    def __getitem__(self, key):
        return F.getitem(self, key)

    # ---- methods for the common ops --------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return F.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return F.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return F.max(self, axis, keepdims)

    def reshape(self, *shape):
        return F.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return F.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def permute(self, *axes):
        return F.transpose(self, axes[0] if len(axes) == 1 else axes)

    @property
    def T(self):
        return F.transpose(self, None)

    def exp(self):
        return F.exp(self)

    def log(self):
        return F.log(self)

    def sqrt(self):
        return F.sqrt(self)

    def relu(self):
        return F.relu(self)

    def sigmoid(self):
        return F.sigmoid(self)

    def tanh(self):
        return F.tanh(self)


def as_tensor(x, like=()) -> Tensor:
    """``x`` as a Tensor: Tensors pass through, arrays are wrapped (no copy).

    A number (a Python number or a NumPy scalar such as ``np.float32(0.5)``) takes the
    dtype and device of the first Tensor in ``like``, so ``float32_tensor * 2.0`` and
    ``float32_tensor * np.float64(2)`` stay float32 (NumPy 2 would promote by the NumPy
    scalar's own dtype), and a number meets a GPU tensor on the GPU. It is made there with a
    fill (the value travels as a kernel argument), not copied from the host.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        x = x.item()  # a NumPy scalar is a plain number here
    if isinstance(x, numbers.Number) and not isinstance(x, np.generic):
        for t in like:
            if isinstance(t, Tensor):
                xp = get_array_module(t.data)
                dtype = t.dtype if t.dtype.kind == "f" or isinstance(x, numbers.Integral) else None
                if xp is np:
                    return Tensor(np.asarray(x, dtype=dtype))
                return Tensor(xp.full((), x, dtype=dtype or np.result_type(x)))
    return Tensor(x)
