"""Bugs to plant in a learnres model, to watch ``compare`` find them (``learnres check
MODEL --plant KIND``, and the chapter on the reference).

Each is a context manager that changes the learnres side only and undoes the change on
exit, yielding the name of the module it broke:

* ``"drop-shortcut"``: one residual block (the middle one) forgets ``+ shortcut(x)``;
* ``"bn-backward"``: BatchNorm's backward in training mode loses the
  ``- x_hat * mean(g * x_hat)`` term (every BN layer; the checker names the first one the
  backward pass reaches);
* ``"conv-padding"``: one 3x3 convolution (in the middle block) pads 0 instead of 1.

Build the twin *before* planting (``to_torch(model)``), so that it keeps the right model.
"""

from __future__ import annotations

import types
from contextlib import contextmanager

from learnres.functions import batchnorm as batchnorm_functions
from learnres.functions.elementwise import relu
from learnres.nn.blocks import BasicBlock, Bottleneck
from learnres.nn.conv import Conv2d

__all__ = ["BUGS", "plant_bug"]

BUGS = ("drop-shortcut", "bn-backward", "conv-padding")


def _middle_block(model):
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, (BasicBlock, Bottleneck))]
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no residual block to break")
    return blocks[len(blocks) // 2]


def _forward_without_shortcut(self, x):
    # the planted bug: Fig. 2 without its shortcut
    out = relu(self.bn1(self.conv1(x)))
    if isinstance(self, Bottleneck):
        out = relu(self.bn2(self.conv2(out)))
        return relu(self.bn3(self.conv3(out)))
    return relu(self.bn2(self.conv2(out)))


def _without_the_x_hat_term(correct_backward):
    """BatchNorm's backward in training mode with ``- x_hat * mean(g * x_hat)`` forgotten:
    dL/dx = (gamma / sigma) * (g - mean(g)). Built around the correct one, so it does not
    depend on how that one is written."""

    def backward(self, gy):
        grads = correct_backward(self, gy)
        if grads[0] is None or not self.training:
            return grads
        x_hat = self.x_hat  # (N, C, L)
        g = gy.reshape(x_hat.shape)  # (N, C, H, W) -> (N, C, L)
        m = x_hat.shape[0] * x_hat.shape[2]
        gamma = getattr(self, "gamma", None)
        scale = self.inv_std if gamma is None else gamma * self.inv_std  # (C,)
        term = x_hat * ((g * x_hat).sum(axis=(0, 2)) / m * scale)[None, :, None]
        return (grads[0] + term.reshape(grads[0].shape), *grads[1:])  # the term added back

    return backward


@contextmanager
def plant_bug(model, kind: str):
    """Break ``model`` (or, for "bn-backward", every BatchNorm) until the block ends;
    yields the dotted name of the module that is wrong."""
    if kind == "drop-shortcut":
        name, block = _middle_block(model)
        block.forward = types.MethodType(_forward_without_shortcut, block)
        try:
            yield name
        finally:
            del block.forward
    elif kind == "bn-backward":
        original = batchnorm_functions.BatchNorm.backward
        batchnorm_functions.BatchNorm.backward = _without_the_x_hat_term(original)
        bns = [n for n, m in model.named_modules() if type(m).__name__.startswith("BatchNorm")]
        try:
            yield bns[-1] if bns else ""
        finally:
            batchnorm_functions.BatchNorm.backward = original
    elif kind == "conv-padding":
        name, block = _middle_block(model)
        conv_name, conv = next(
            (n, m) for n, m in block.named_modules() if isinstance(m, Conv2d) and m.padding == 1
        )
        conv.padding = 0
        try:
            yield f"{name}.{conv_name}"
        finally:
            conv.padding = 1
    else:
        raise ValueError(f"unknown bug {kind!r}; choose from {', '.join(BUGS)}")
