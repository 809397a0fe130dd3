"""``to_torch(model)``: the PyTorch twin of a learnres model, same structure, same weights.

The twin is built by walking the learnres model: each layer becomes the torch layer of the
same name and settings (``LAYERS`` below), each composite module the torch class of
``learnres.reference.twins`` with the same ``forward`` (``COMPOSITES``), its children
attached under the same names in the same order. Then the learnres ``state_dict`` is
copied in, so both models have the same keys (checked) and the same values: parameters,
running statistics and ``num_batches_tracked``.

A model of your own whose forward is a plain chain of its children can use
``register_twin(MyModule, torch.nn.Sequential)``; anything else needs a torch class with
the same forward.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from learnres.backend import asnumpy
from learnres.models.cifar import MLP, CifarResNet
from learnres.models.imagenet import ImageNetResNet
from learnres.models.vgg import VGG, CifarVGG
from learnres.nn import blocks
from learnres.nn.batchnorm import BatchNorm1d, BatchNorm2d
from learnres.nn.container import Sequential
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Dropout, Flatten, Identity, Linear, ReLU
from learnres.nn.module import Module
from learnres.nn.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from learnres.reference import twins

__all__ = ["to_torch", "register_twin", "single_threaded", "LAYERS", "COMPOSITES", "TORCH_DTYPES"]

TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


@contextmanager
def single_threaded():
    """Run torch on one thread inside the block (restored after). The reference works on
    small tensors, where torch's thread pool only adds waiting, and on a busy machine each
    op's threads can wait milliseconds for a core (ResNet-1202's check went from ~10 s to
    ~60 s that way)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _batch_norm(cls):
    def build(m):
        return cls(
            m.num_features,
            eps=m.eps,
            momentum=m.momentum,
            affine=m.affine,
            track_running_stats=m.track_running_stats,
        )

    return build


# learnres layer type -> function(layer) -> the torch layer with the same settings
LAYERS = {
    Conv2d: lambda m: nn.Conv2d(
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        stride=m.stride,
        padding=m.padding,
        bias=m.bias is not None,
    ),
    Linear: lambda m: nn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
    BatchNorm2d: _batch_norm(nn.BatchNorm2d),
    BatchNorm1d: _batch_norm(nn.BatchNorm1d),
    ReLU: lambda m: nn.ReLU(),
    Identity: lambda m: nn.Identity(),
    Flatten: lambda m: nn.Flatten(m.start_dim, m.end_dim),
    MaxPool2d: lambda m: nn.MaxPool2d(m.kernel_size, m.stride, m.padding),
    AvgPool2d: lambda m: nn.AvgPool2d(m.kernel_size, m.stride, m.padding),
    AdaptiveAvgPool2d: lambda m: nn.AdaptiveAvgPool2d(m.output_size),
    blocks.ZeroPadShortcut: lambda m: twins.ZeroPadShortcut(m.in_planes, m.out_planes, m.stride),
    Dropout: lambda m: twins.Dropout(m.p, m.rng),  # the same masks (see twins.Dropout)
}

# learnres composite type -> torch class with the same forward (children attached by to_torch)
COMPOSITES = {
    Sequential: nn.Sequential,
    blocks.BasicBlock: twins.BasicBlock,
    blocks.Bottleneck: twins.Bottleneck,
    blocks.PlainBasicBlock: twins.PlainBasicBlock,
    blocks.PlainBottleneck: twins.PlainBottleneck,
    blocks.BasicLinearBlock: twins.BasicLinearBlock,
    blocks.PlainLinearBlock: twins.PlainLinearBlock,
    CifarResNet: twins.CifarResNet,
    ImageNetResNet: twins.ImageNetResNet,
    MLP: twins.MLP,
    VGG: twins.VGG,
    CifarVGG: twins.CifarVGG,
}


def register_twin(learnres_cls: type, torch_cls: type) -> None:
    """Teach ``to_torch`` a composite module of your own: ``torch_cls()`` (no arguments)
    must compute what ``learnres_cls.forward`` computes from the same named children."""
    COMPOSITES[learnres_cls] = torch_cls


def _twin_of(module: Module, path: str) -> nn.Module:
    """The torch twin of one module and (for composites) of its children, recursively."""
    kind = type(module)
    if kind in LAYERS:
        return LAYERS[kind](module)
    if kind not in COMPOSITES:
        known = ", ".join(sorted(c.__name__ for c in (*LAYERS, *COMPOSITES)))
        raise TypeError(
            f"no PyTorch twin for {kind.__name__} at {path or 'the top'}: known types are "
            f"{known}; for a new composite module call "
            "learnres.reference.register_twin(YourModule, YourTorchModule)"
        )
    twin = COMPOSITES[kind]()
    for name, child in module.named_children():
        twin.add_module(name, _twin_of(child, f"{path}.{name}" if path else name))
    return twin


def to_torch(model: Module, dtype=None) -> nn.Module:
    """The PyTorch twin of ``model``: same modules, names, weights, buffers and mode.

    Arguments:
        model: a learnres Module built from the layers, blocks and models of learnres (or
            types added with ``register_twin``).
        dtype: ``np.float64``/``torch.float64`` or float32 for the twin's floating-point
            tensors; by default the dtype of the model's parameters.

    Returns:
        A ``torch.nn.Module`` on the CPU whose ``state_dict`` has the learnres model's keys
        and values (copies: changing one model afterwards leaves the other alone).
    """
    with single_threaded():
        return _to_torch(model, dtype)


def _to_torch(model: Module, dtype) -> nn.Module:
    with torch.device("meta"):  # no memory and no random initialisation: the values come next
        twin = _twin_of(model, "")
    twin = twin.to_empty(device="cpu")
    state = model.state_dict()
    if dtype is None:
        floats = [a.dtype for a in state.values() if a.dtype.kind == "f"]
        dtype = floats[0] if floats else np.float32
    torch_dtype = dtype if isinstance(dtype, torch.dtype) else TORCH_DTYPES[np.dtype(dtype)]
    twin = twin.to(torch_dtype)
    own = twin.state_dict()
    if list(own) != list(state):
        missing = [k for k in state if k not in own]
        extra = [k for k in own if k not in state]
        raise RuntimeError(
            f"the twin of {type(model).__name__} has different state-dict keys: learnres only "
            f"{missing[:5]}, torch only {extra[:5]}"
        )
    values = OrderedDict()
    for key, array in state.items():
        array = np.array(asnumpy(array))  # a copy, on the CPU
        if array.dtype.kind == "f":
            values[key] = torch.from_numpy(array).to(torch_dtype)
        else:
            values[key] = torch.from_numpy(array).to(own[key].dtype)
    twin.load_state_dict(values, strict=True)  # every key: nothing stays uninitialised
    torch_modules = dict(twin.named_modules())
    for name, module in model.named_modules():
        torch_modules[name].training = module.training
    return twin
