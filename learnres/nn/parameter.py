"""``Parameter``: a Tensor that a Module learns.

Assigning a Parameter to a Module attribute (``self.weight = Parameter(w)``) registers it, so
``model.parameters()`` finds it for the optimizer and ``state_dict()`` saves it. It is an
ordinary Tensor otherwise, with ``requires_grad=True`` unless told.
"""

from __future__ import annotations

from learnres.autograd.tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A learnable Tensor: ``Parameter(data, requires_grad=True)``.

    Arguments:
        data: a NumPy/CuPy array (kept, not copied), a Tensor (its array is taken), or a
            nested list of numbers (floats become float32).
        requires_grad: whether the optimizer should receive a gradient for it.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
