"""learnres: Deep Residual Learning (He et al., 2015), built from an autograd engine up."""

# learnres.functions also connects Tensor's operators (a + b) to the ops: see autograd/tensor.py
from learnres import functions, models, nn
from learnres.analysis import summary
from learnres.autograd import Function, OpError, Tensor, enable_grad, is_grad_enabled, no_grad
from learnres.backend import is_gpu_available

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "Function",
    "OpError",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "is_gpu_available",
    "functions",
    "nn",
    "models",
    "summary",
]
