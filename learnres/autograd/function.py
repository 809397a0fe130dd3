"""``Function``: one primitive op, with ``forward`` and ``backward`` side by side.

A subclass implements

* ``forward(*arrays) -> array``: the op on plain NumPy/CuPy arrays. It may store what
  backward needs on ``self`` (``self.mask = x > 0``).
* ``backward(gy) -> tuple``: given ``gy = dL/dy`` (an array shaped like the output), return
  ``dL/dx`` for every input, in order (``None`` for an input that needs no gradient). Each
  gradient must have its input's shape: broadcasting is undone with ``sum_to``.

Calling a Function instance on Tensors runs ``forward`` and, when any input requires a
gradient and grad mode is on, links the output to the Function so that
``Tensor.backward`` can walk the graph (see ``learnres.autograd.graph``).
Options that are not tensors (an axis, a stride) go to ``__init__``.
"""

from __future__ import annotations

from learnres.autograd.errors import OpError
from learnres.autograd.grad_mode import is_grad_enabled
from learnres.autograd.tensor import Tensor, as_tensor
from learnres.backend import device_of

__all__ = ["Function", "OpError"]  # OpError (learnres.autograd.errors) for the ops to import


class Function:
    """Base class of every primitive op (see the module docstring)."""

    inputs: tuple | None = None  # the input Tensors, kept until backward releases them
    needs_input_grad: tuple = ()  # one bool per input

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def __call__(self, *inputs):
        xs = tuple(as_tensor(x, like=inputs) for x in inputs)
        _check_same_device(self.name, xs)
        record = is_grad_enabled() and any(x.requires_grad for x in xs)
        self.needs_input_grad = tuple(x.requires_grad for x in xs) if record else ()
        try:
            y = self.forward(*(x.data for x in xs))
        except OpError:
            raise
        except (ValueError, TypeError, IndexError) as e:
            shapes = ", ".join(str(x.shape) for x in xs)
            raise OpError(f"{self.name}: {e} (input shapes {shapes})") from e
        out = Tensor(y, requires_grad=record)
        if record:
            self.inputs = xs
            out.creator = self
        return out

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, gy):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def release(self) -> None:
        """Drop the inputs and every buffer saved for backward (after a backward pass)."""
        self.__dict__.clear()
        self.inputs = None

    @property
    def released(self) -> bool:
        return self.inputs is None

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _check_same_device(name: str, xs) -> None:
    devices = {device_of(x.data) for x in xs}
    if len(devices) > 1:
        where = ", ".join(f"{device_of(x.data)} {x.shape}" for x in xs)
        raise OpError(
            f"{name}: expected all tensors on one device, got {where}; "
            "move them with .to('cuda') or .to('cpu')"
        )
