"""``summary(model, input_shape)``: a model's layers, output shapes, parameters and
mult-adds, as a torchinfo-style table, with the totals the paper's tables quote.

Counting conventions (those of the paper's Table 1, whose "FLOPs" are multiply-adds):

* parameters: every learnable scalar, BN's gamma and beta included (buffers such as the
  running statistics are not parameters);
* mult-adds: a Conv2d producing an (N, O, Ho, Wo) output costs N*O*Ho*Wo * C*kh*kw
  multiply-adds, a Linear producing (N, out) costs N*out * in; bias additions, BN, ReLU,
  dropout, pooling and the shortcut additions count 0 (they are a few percent at most).
  ``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per multiply-add, for the
  same layers: its total is exactly twice ours (the tests check it on the torch twins).

How shapes are found: the model's own ``forward`` runs on a zero input, with forward hooks
on every module (removed afterwards) recording each call's output shape. By default the
layers that cost the time (Conv2d, Linear, BN, pooling, ...) are not computed: while
counting, each is swapped for a stand-in whose output is a zero array of the shape its
rule (``SHAPE_RULES``) gives, so counting ResNet-152 at 224x224 or ResNet-1202 takes about
a second. Composite
modules still run their real code on those zeros. ``shapes_only=False`` runs the real
layers instead (the tests check that both give the same table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from learnres.analysis.counting import conv_output_size
from learnres.autograd.function import OpError
from learnres.autograd.grad_mode import no_grad
from learnres.autograd.tensor import Tensor
from learnres.backend import get_array_module, to_device
from learnres.nn._checks import as_pair
from learnres.nn.batchnorm import BatchNorm1d, BatchNorm2d
from learnres.nn.blocks import ZeroPadShortcut
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Dropout, Flatten, Identity, Linear, ReLU
from learnres.nn.module import Module
from learnres.nn.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["summary", "Summary", "LayerRow", "SHAPE_RULES", "MULT_ADDS", "format_count"]


def _window_shape(m, x: tuple, channels: int) -> tuple:
    kh, kw = as_pair(m.kernel_size)
    sh, sw = as_pair(m.stride)
    ph, pw = as_pair(m.padding)
    if len(x) != 4:
        raise OpError(f"{type(m).__name__} expects (N, C, H, W), got shape {x}")
    ho, wo = conv_output_size(x[2], kh, sh, ph), conv_output_size(x[3], kw, sw, pw)
    if ho < 1 or wo < 1:
        raise OpError(
            f"{type(m).__name__} with kernel_size={m.kernel_size} got input of size "
            f"{x[2]}x{x[3]} (shape {x}), smaller than its kernel even after padding"
        )
    return (x[0], channels, ho, wo)


def _conv_shape(m: Conv2d, x: tuple) -> tuple:
    if len(x) == 4 and x[1] != m.in_channels:
        raise OpError(
            f"Conv2d({m.in_channels}→{m.out_channels}) got input with {x[1]} channels "
            f"(shape {x}); expected {m.in_channels} channels"
        )
    return _window_shape(m, x, m.out_channels)


def _linear_shape(m: Linear, x: tuple) -> tuple:
    if not x or x[-1] != m.in_features:
        raise OpError(
            f"Linear({m.in_features}→{m.out_features}) got input of shape {x}; expected "
            f"{m.in_features} features in the last axis"
        )
    return (*x[:-1], m.out_features)


def _flatten_shape(m: Flatten, x: tuple) -> tuple:
    start, end = m.start_dim % len(x), m.end_dim % len(x)
    return (*x[:start], math.prod(x[start : end + 1]), *x[end + 1 :])


def _same_channels_shape(m, x: tuple) -> tuple:
    if len(x) < 2 or x[1] != m.num_features:
        raise OpError(f"{type(m).__name__}({m.num_features}) got input of shape {x}")
    return x


def _zero_pad_shape(m: ZeroPadShortcut, x: tuple) -> tuple:
    s = m.stride
    return (x[0], m.out_planes, -(-x[2] // s), -(-x[3] // s))  # ceil(H / s), ceil(W / s)


# layer type -> (layer, input shape) -> output shape, used instead of computing the layer
SHAPE_RULES = {
    Conv2d: _conv_shape,
    Linear: _linear_shape,
    BatchNorm2d: _same_channels_shape,
    BatchNorm1d: _same_channels_shape,
    ReLU: lambda m, x: x,
    Identity: lambda m, x: x,
    Flatten: _flatten_shape,
    MaxPool2d: lambda m, x: _window_shape(m, x, x[1]),
    AvgPool2d: lambda m, x: _window_shape(m, x, x[1]),
    AdaptiveAvgPool2d: lambda m, x: (x[0], x[1], *as_pair(m.output_size)),
    Dropout: lambda m, x: x,
    ZeroPadShortcut: _zero_pad_shape,
}

# layer type -> (layer, input shape, output shape) -> multiply-adds; everything else is 0
MULT_ADDS = {
    Conv2d: lambda m, x, y: math.prod(y) * m.in_channels * math.prod(as_pair(m.kernel_size)),
    Linear: lambda m, x, y: math.prod(y) * m.in_features,
}


@dataclass
class LayerRow:
    """One module call: ``params`` and ``mult_adds`` include those of its submodules."""

    name: str  # dotted name, "" for the model
    kind: str  # class name
    depth: int  # 0 for the model, 1 for its children, ...
    input_shape: tuple | None
    output_shape: tuple | None
    params: int
    mult_adds: int = 0
    leaf: bool = True


@dataclass
class Summary:
    """The counts of one model on one input shape; ``str()`` prints the table."""

    model: str
    input_shape: tuple
    dtype: str
    rows: list = field(default_factory=list)  # LayerRow, in call order (parents first)
    total_params: int = 0
    trainable_params: int = 0
    mult_adds: int = 0  # for the whole input batch
    max_depth: int | None = 3

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        return self.format()

    def format(self, max_depth: int | None = -1) -> str:
        """The table; rows deeper than ``max_depth`` are folded into their parents
        (default: the depth given to ``summary``; None shows every row)."""
        max_depth = self.max_depth if max_depth == -1 else max_depth
        width = 100
        lines = [
            f"{self.model}: input {self.input_shape}, {self.dtype}",
            "=" * width,
            f"{'Layer (type)':<46}{'Output shape':<22}{'Param #':>14}{'Mult-adds':>18}",
            "=" * width,
        ]
        for row in self.rows:
            if max_depth is not None and row.depth > max_depth:
                continue
            label = f"{'  ' * row.depth}{row.name.rsplit('.', 1)[-1] or self.model} ({row.kind})"
            shape = "-" if row.output_shape is None else str(row.output_shape)
            lines.append(
                f"{label[:45]:<46}{shape:<22}{row.params:>14,}{format_count(row.mult_adds):>18}"
            )
        lines += [
            "=" * width,
            f"Total params: {self.total_params:,} ({format_count(self.total_params)})",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            (
                f"Mult-adds: {format_count(self.mult_adds)} ({self.mult_adds:,}; conv and fc "
                "multiply-adds, as Table 1's FLOPs)"
            ),
            "=" * width,
        ]
        return "\n".join(lines)


def format_count(n: int) -> str:
    """12345678 -> '12.35M', 3.86e9 -> '3.86G' (powers of 1000, as the paper writes them)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _own_params(module: Module) -> tuple[int, int]:
    params = [p for p in module._parameters.values() if p is not None]
    return sum(p.size for p in params), sum(p.size for p in params if p.requires_grad)


class _ByRule(Module):
    """Stands in for a costly leaf layer while counting: a zero output of the shape its
    ``SHAPE_RULES`` entry gives, without computing the layer."""

    def __init__(self, real: Module):
        super().__init__()
        object.__setattr__(self, "real", real)  # not a submodule: it is not called

    def forward(self, x, *args, **kwargs):
        xp = get_array_module(x.data)
        return Tensor(
            xp.zeros(SHAPE_RULES[type(self.real)](self.real, tuple(x.shape)), dtype=x.dtype)
        )


def _swap_in_shape_rules(model: Module) -> list:
    """Put a ``_ByRule`` in place of every leaf below ``model`` that has a shape rule;
    returns ``(parent, name, real, stand_in)`` for each, to put the real ones back."""
    swapped = []
    for parent in list(model.modules()):
        for short, child in list(parent._modules.items()):
            if child is not None and not child._modules and type(child) in SHAPE_RULES:
                stand_in = _ByRule(child)
                parent._modules[short] = stand_in
                swapped.append((parent, short, child, stand_in))
    return swapped


def summary(
    model: Module,
    input_shape,
    dtype=None,
    print_table: bool = True,
    max_depth: int | None = 3,
    shapes_only: bool = True,
) -> Summary:
    """Count ``model``'s parameters and mult-adds on an input of ``input_shape``.

    Arguments:
        model: any learnres Module.
        input_shape: (C, H, W) for one image (a batch of 1 is added), or (N, C, H, W);
            mult-adds are for the whole batch.
        dtype: of the zero input that is run through the model (default: the dtype of the
            model's parameters).
        print_table: print the table (``str(result)``) as well as returning it.
        max_depth: rows deeper than this are left out of the printed table (their counts
            are still in their parents' rows and in the totals); None prints all.
        shapes_only: find the layers' output shapes by rule instead of computing them
            (see the module docstring).

    Returns:
        A ``Summary``: ``total_params``, ``trainable_params``, ``mult_adds``, ``rows``.
    """
    if dtype is None:
        dtype = model.dtype or np.dtype(np.float32)
    device = model.device
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    name = getattr(model, "name", type(model).__name__)
    result = Summary(str(name), shape, np.dtype(dtype).name, max_depth=max_depth)
    seen = {}
    for p in model.parameters():
        seen[id(p)] = p
    result.total_params = sum(p.size for p in seen.values())
    result.trainable_params = sum(p.size for p in seen.values() if p.requires_grad)

    stack: list[LayerRow] = []  # the rows of the modules running now, outermost first

    def enter(name: str, module: Module):
        def pre_hook(_, args):
            depth = name.count(".") + 1 if name else 0
            own, _ = _own_params(module)
            leaf = not module._modules
            row = LayerRow(
                name, type(module).__name__, depth, tuple(args[0].shape), None, own, 0, leaf
            )
            result.rows.append(row)
            stack.append(row)

        return pre_hook

    def leave(module: Module):
        def hook(_, args, out):
            row = stack.pop()
            row.output_shape = tuple(out.shape)
            if row.leaf and type(module) in MULT_ADDS:
                row.mult_adds = int(
                    MULT_ADDS[type(module)](module, row.input_shape, row.output_shape)
                )
            if stack:  # roll up into the parent's row
                stack[-1].params += row.params
                stack[-1].mult_adds += row.mult_adds

        return hook

    named = list(model.named_modules())  # the real modules, before any is swapped out
    swapped = _swap_in_shape_rules(model) if shapes_only else []
    stand_ins = {id(real): stand_in for _, _, real, stand_in in swapped}
    handles = []
    for module_name, module in named:
        called = stand_ins.get(id(module), module)  # what the parent will call
        handles.append(called.register_forward_pre_hook(enter(module_name, module)))
        handles.append(called.register_forward_hook(leave(module)))
    was_training = [(m, m.training) for m in model.modules()]
    model.eval()  # a counting pass must not move the running statistics
    try:
        with no_grad():
            model(Tensor(to_device(np.zeros(shape, dtype=dtype), device)))
    finally:
        for handle in handles:
            handle.remove()
        for parent, short, real, _ in swapped:
            parent._modules[short] = real
        for module, mode in was_training:
            module.training = mode
    result.mult_adds = sum(row.mult_adds for row in result.rows if row.leaf)
    if print_table:
        print(result)
    return result
