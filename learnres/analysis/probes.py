"""Looking inside a network: the outputs of chosen layers in the forward pass and the
gradients that reach them in the backward pass.

The paper argues (section 4.1) that the degradation of deep plain nets is *not* vanishing
gradients: "These plain networks are trained with BN, which ensures forward propagated
signals to have non-zero variances. We also verify that the backward propagated gradients
exhibit healthy norms with BN." And Fig. 7 plots "the standard deviations (std) of layer
responses [...] the outputs of each 3x3 layer, after BN and before other nonlinearity
(ReLU/addition)". ``probe`` measures exactly these quantities on a learnres model:

    report = probe(model, x, y, select=BatchNorm2d)
    report.names          # the selected layers, in forward order
    report.forward_std    # std of each layer's output (Fig. 7)
    report.grad_norm      # ||dL/d output|| of each layer (the backward signal)

It wraps ``forward`` on the selected module instances for one forward/backward pass and
restores them afterwards (learnres Modules have no hooks; this is the same technique as
``learnres.reference.compare``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from learnres.autograd import Tensor
from learnres.backend import asnumpy
from learnres.functions import cross_entropy
from learnres.nn import BatchNorm1d, BatchNorm2d, Conv2d, Linear

__all__ = [
    "ProbeReport",
    "bn_after_3x3",
    "bn_outside_shortcuts",
    "probe",
    "record_outputs",
    "weight_grad_norms",
]


@dataclass
class ProbeReport:
    """Per-layer statistics of one forward/backward pass (lists in forward order)."""

    names: list = field(default_factory=list)
    forward_mean: list = field(default_factory=list)
    forward_std: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)  # ||dL/dy||_2 over the batch
    grad_rms: list = field(default_factory=list)  # sqrt(mean (dL/dy)^2): size-independent
    loss: float = float("nan")

    def as_arrays(self) -> dict:
        return {
            k: np.asarray(getattr(self, k))
            for k in ("forward_mean", "forward_std", "grad_norm", "grad_rms")
        }


def _matches(name, module, select) -> bool:
    if callable(select) and not isinstance(select, type) and not isinstance(select, tuple):
        return bool(select(name, module))
    return isinstance(module, select)


@contextmanager
def record_outputs(model, select):
    """Within the block, every call of a module chosen by ``select`` appends
    ``(name, output Tensor)`` to the yielded list.

    ``select``: a class or tuple of classes (``BatchNorm2d``), or ``fn(name, module) -> bool``.
    The output keeps its gradient after backward (``retain_grad``) when it has a graph.
    """
    calls: list = []

    def recorder(name):
        def hook(module, args, out):
            if isinstance(out, Tensor) and out.requires_grad:
                out.retain_grad()
            calls.append((name, out))

        return hook

    handles = [
        module.register_forward_hook(recorder(name))
        for name, module in model.named_modules()
        if name and _matches(name, module, select)
    ]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def bn_after_3x3(name: str, module) -> bool:
    """Selects Fig. 7's "layer responses" in the CIFAR nets: every BN layer outside a
    shortcut, i.e. the BN after conv1 and after each 3x3 convolution of a basic block (in a
    bottleneck net this would include the 1x1 layers' BN as well)."""
    return isinstance(module, BatchNorm2d) and "shortcut" not in name.split(".")


def bn_outside_shortcuts(name: str, module) -> bool:
    """Fig. 7's responses in any of the CIFAR-10 models: the output of every BN layer that
    is not in a shortcut — after each 3x3 convolution in the conv nets (``bn_after_3x3``),
    after each Linear layer in the fully connected stacks."""
    return isinstance(module, (BatchNorm1d, BatchNorm2d)) and "shortcut" not in name.split(".")


def probe(model, x, y, select=(BatchNorm2d, BatchNorm1d), train_mode: bool = True) -> ProbeReport:
    """One forward and backward pass of ``cross_entropy(model(x), y)``, recording the
    output statistics and output gradients of the layers chosen by ``select``.

    Arguments:
        model: a learnres Module returning logits.
        x: input array (N, ...); y: int labels (N,).
        select: which layers (see ``record_outputs``); default every BN layer.
        train_mode: run in training mode (batch statistics, as during SGD). The model's
            mode is restored; its BN running statistics move as in a training step, and
            its parameters' ``.grad`` are left set (read them with ``weight_grad_norms``).
    """
    was_training = model.training
    model.train(train_mode)
    model.zero_grad()
    report = ProbeReport()
    try:
        with record_outputs(model, select) as calls:
            logits = model(Tensor(np.asarray(x, dtype=_dtype(model))))
        loss = cross_entropy(logits, np.asarray(y))
        loss.backward()
        report.loss = float(loss.item())
        for name, out in calls:
            data = asnumpy(out.data).astype(np.float64)
            report.names.append(name)
            report.forward_mean.append(float(data.mean()))
            report.forward_std.append(float(data.std()))
            g = asnumpy(out.grad).astype(np.float64) if out.grad is not None else np.zeros(1)
            report.grad_norm.append(float(np.sqrt((g**2).sum())))
            report.grad_rms.append(float(np.sqrt((g**2).mean())))
    finally:
        model.train(was_training)
    return report


def weight_grad_norms(model, kinds=(Conv2d, Linear)) -> tuple[list, np.ndarray]:
    """``(names, ||dL/dW||_2)`` of the weights of every ``kinds`` layer, in forward order,
    from the ``.grad`` left by the last backward."""
    names, norms = [], []
    for name, module in model.named_modules():
        if (
            isinstance(module, kinds)
            and module.weight is not None
            and module.weight.grad is not None
        ):
            g = asnumpy(module.weight.grad).astype(np.float64)
            names.append(name)
            norms.append(float(np.sqrt((g**2).sum())))
    return names, np.asarray(norms)


def _dtype(model):
    for p in model.parameters():
        return p.data.dtype
    return np.float32
