"""The define-by-run autograd engine: Tensor, Function, the graph walk and no_grad."""

from learnres.autograd.errors import OpError
from learnres.autograd.function import Function
from learnres.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from learnres.autograd.graph import backward, topological_order
from learnres.autograd.tensor import DEFAULT_DTYPE, Tensor, as_tensor

__all__ = [
    "Function",
    "OpError",
    "Tensor",
    "as_tensor",
    "DEFAULT_DTYPE",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "backward",
    "topological_order",
]
