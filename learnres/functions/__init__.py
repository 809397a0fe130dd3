"""The primitive ops, one ``Function`` subclass each, grouped by family.

Each family module puts a class (``forward`` above ``backward``) and its lowercase wrapper
side by side; the wrappers are re-exported here: ``from learnres.functions import relu``.

Tensor's operators and methods (``a + b``, ``x.sum()``) call these wrappers. Tensor lives a
layer below, in ``learnres.autograd``, and cannot import them: the last line of this file
hands this module to it (``learnres.autograd.tensor.use_ops``), the one link between the two.
"""

import sys

from learnres.autograd.tensor import use_ops
from learnres.functions.batchnorm import batch_norm
from learnres.functions.conv import conv2d, conv2d_naive
from learnres.functions.device import astype, to_device
from learnres.functions.elementwise import (
    add,
    div,
    exp,
    log,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    sum_to,
    tanh,
)
from learnres.functions.linear import linear
from learnres.functions.loss import cross_entropy, log_softmax, softmax
from learnres.functions.matmul import matmul
from learnres.functions.pool import avg_pool2d, global_avg_pool2d, max_pool2d
from learnres.functions.reduce import max, mean, sum
from learnres.functions.shape import broadcast_to, concatenate, getitem, pad, reshape, transpose

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt",
    "relu", "sigmoid", "tanh", "sum_to",
    "sum", "mean", "max",
    "reshape", "transpose", "broadcast_to", "pad", "getitem", "concatenate",
    "matmul",
    "softmax", "log_softmax", "cross_entropy",
    "to_device", "astype",
    "conv2d", "conv2d_naive", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
    "batch_norm", "linear",
]  # fmt: skip

# Tensor's operators and methods call the ops above from here on (see the module docstring).
use_ops(sys.modules[__name__])
