"""Fig. 3 of the paper, drawn from the models themselves: one column per network, a box per
layer, the boxes coloured by the output size they work at, the shortcuts drawn beside the
residual network.

    from learnres.analysis.architecture import layer_diagram, draw_architectures
    from learnres.models import plain34, resnet34, vgg19
    diagrams = [layer_diagram(m, (3, 224, 224)) for m in (vgg19(), plain34(), resnet34())]
    fig = draw_architectures(diagrams)

``layer_diagram`` reads a model the way ``learnres.analysis.summary`` does (the model's own
forward on a zero input, shapes by rule, nothing computed): the convolutions, pools and fully
connected layers in the order they run, each with its label as the paper writes it ("3x3
conv, 128, /2", "fc 1000") and its output size; and for every residual block the layers its
shortcut spans and what the shortcut is ("identity"; "projection", option B or C; "zero-pad",
option A). The paper draws a shortcut that changes dimensions dotted, the others solid.

What is left out of the boxes, as in the paper's figure: BN, ReLU, dropout, flatten, the
layers inside a projection shortcut (they are the dotted line), and pools that change
nothing (VGG's 7x7 adaptive pool at 224x224). Parameters and mult-adds in the titles are
``summary``'s totals, which do count BN.

matplotlib is needed only by ``draw_architectures`` (imported there); the figure is built
with ``matplotlib.figure.Figure``, without pyplot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from learnres.analysis.summary import summary
from learnres.nn._checks import as_pair
from learnres.nn.blocks import ZeroPadShortcut
from learnres.nn.conv import Conv2d
from learnres.nn.layers import Linear
from learnres.nn.module import Module
from learnres.nn.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["DiagramLayer", "DiagramShortcut", "Diagram", "layer_diagram", "draw_architectures"]

_DRAWN = (Conv2d, Linear, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d)


@dataclass
class DiagramLayer:
    """One box: a convolution, a pool or a fully connected layer."""

    name: str  # the module's dotted name, e.g. "conv3_x.0.conv1"
    label: str  # as the paper writes it: "3x3 conv, 128, /2", "pool, /2", "fc 1000"
    kind: str  # "conv", "pool" or "fc"
    size: int  # output height (1 after global pooling and for fully connected layers)


@dataclass
class DiagramShortcut:
    """A shortcut around ``layers[start] .. layers[end]`` (inclusive)."""

    start: int
    end: int
    kind: str  # "identity", "projection" (options B, C) or "zero-pad" (option A)

    @property
    def changes_dimensions(self) -> bool:
        """Drawn dotted in Fig. 3: a projection or option A's zero padding."""
        return self.kind != "identity"


@dataclass
class Diagram:
    """A network as Fig. 3 draws it, with ``summary``'s totals."""

    title: str
    input_size: int
    layers: list = field(default_factory=list)  # DiagramLayer, in forward order
    shortcuts: list = field(default_factory=list)  # DiagramShortcut
    params: int = 0
    mult_adds: int = 0

    @property
    def weighted_layers(self) -> int:
        """Convolutions and fully connected layers: the depth the paper names a net by."""
        return sum(layer.kind in ("conv", "fc") for layer in self.layers)


def _label(module: Module, row) -> tuple[str, str] | None:
    """(label, kind) of a drawn layer; None for a pool that changes nothing."""
    if isinstance(module, Conv2d):
        k = as_pair(module.kernel_size)
        stride = f", /{as_pair(module.stride)[0]}" if as_pair(module.stride)[0] > 1 else ""
        return f"{k[0]}x{k[1]} conv, {module.out_channels}{stride}", "conv"
    if isinstance(module, Linear):
        return f"fc {module.out_features}", "fc"
    if row.output_shape == row.input_shape:
        return None  # e.g. VGG's AdaptiveAvgPool2d((7, 7)) on a 7x7 input
    if isinstance(module, AdaptiveAvgPool2d):
        out = as_pair(module.output_size)
        return ("avg pool" if out == (1, 1) else f"avg pool to {out[0]}x{out[1]}"), "pool"
    k, stride = as_pair(module.kernel_size), as_pair(module.stride)[0]
    kind = "max pool" if isinstance(module, MaxPool2d) else "avg pool"
    return f"{k[0]}x{k[1]} {kind}, /{stride}", "pool"


def _shortcut_kind(shortcut: Module) -> str:
    if isinstance(shortcut, ZeroPadShortcut):
        return "zero-pad"
    return "projection" if shortcut.num_parameters() else "identity"


def layer_diagram(model: Module, input_shape, title: str | None = None) -> Diagram:
    """The layers and shortcuts of ``model`` on an input of ``input_shape`` ((C, H, W)).

    Arguments:
        model: a learnres model (its blocks' shortcuts are found by their ``shortcut``
            attribute, as ``BasicBlock`` and ``Bottleneck`` name it).
        input_shape: (C, H, W) of one image, e.g. (3, 224, 224).
        title: the column's title (default: the model's ``name``).
    """
    counts = summary(model, input_shape, print_table=False, max_depth=None)
    modules = dict(model.named_modules())
    diagram = Diagram(
        title or str(getattr(model, "name", type(model).__name__)),
        int(counts.input_shape[2]),
        params=counts.total_params,
        mult_adds=counts.mult_adds,
    )
    index_of = {}
    for row in counts.rows:
        module = modules[row.name]
        inside_shortcut = "shortcut" in row.name.split(".")
        if not row.leaf or not isinstance(module, _DRAWN) or inside_shortcut:
            continue
        labelled = _label(module, row)
        if labelled is None:
            continue
        label, kind = labelled
        size = row.output_shape[2] if len(row.output_shape) == 4 else 1
        index_of[row.name] = len(diagram.layers)
        diagram.layers.append(DiagramLayer(row.name, label, kind, int(size)))
    for name, module in modules.items():
        shortcut = getattr(module, "shortcut", None)
        if not isinstance(shortcut, Module):
            continue
        inside = [i for n, i in index_of.items() if n.startswith(f"{name}.")]
        if inside:
            diagram.shortcuts.append(
                DiagramShortcut(min(inside), max(inside), _shortcut_kind(shortcut))
            )
    diagram.shortcuts.sort(key=lambda s: s.start)
    return diagram


# ---- drawing ---------------------------------------------------------------------------------

_ROW = 1.0  # height of one row (a box and the gap below it)
_BOX = 0.72  # height of a box
_WIDTH = 3.0  # width of a box
_GAP = 1.6  # between columns (room for the shortcuts)


def _bands(diagrams) -> list[tuple[int, int]]:
    """(output size, rows) per band, largest size first: a band is as tall as the column
    with the most layers at that size, so equal sizes line up across the columns."""
    sizes = sorted({layer.size for d in diagrams for layer in d.layers}, reverse=True)
    return [
        (size, max(sum(layer.size == size for layer in d.layers) for d in diagrams))
        for size in sizes
    ]


def draw_architectures(diagrams, colours=None, row_height: float = 0.26):
    """Fig. 3 for ``diagrams`` (from ``layer_diagram``): a column per network.

    Arguments:
        diagrams: the networks, left to right.
        colours: output size -> matplotlib colour (default: one of the "Pastel1" colours
            per size, the same in every column).
        row_height: inches per layer row.

    Returns:
        A ``matplotlib.figure.Figure``. Each box is a ``FancyBboxPatch`` with the layer's
        ``name`` as its gid; each shortcut a ``FancyArrowPatch`` (gid "shortcut:<kind>"),
        solid for the identity and dotted where the shortcut changes dimensions.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    diagrams = list(diagrams)
    bands = _bands(diagrams)
    if colours is None:
        palette = colormaps["Pastel1"].colors
        colours = {size: palette[i % len(palette)] for i, (size, _) in enumerate(bands)}
    rows = 1 + sum(n for _, n in bands)  # the image on top
    width = len(diagrams) * (_WIDTH + _GAP) + 1.6
    height = 1.9 + row_height * rows
    fig = Figure(figsize=(2.1 + 2.6 * len(diagrams), height))
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.0, right=1.0, top=1 - 0.8 / height, bottom=0.6 / height)
    ax.set_xlim(-1.6, width - 1.6)
    ax.set_ylim(-rows - 0.2, 1.0)
    ax.axis("off")

    band_top = {}
    ax.text(-1.5, -0.15, "output size", fontsize=6.5, va="top", color="0.3")
    top = -1.0  # row 0 is the image
    for size, n in bands:
        band_top[size] = top
        ax.axhline(top + (1 - _BOX) / 2 + 0.05, color="0.85", lw=0.6, ls="--", zorder=0)
        ax.text(-1.5, top - 0.2, f"{size}x{size}", fontsize=6.5, va="top", color="0.3")
        top -= n

    for column, diagram in enumerate(diagrams):
        left = column * (_WIDTH + _GAP)
        centre = left + _WIDTH / 2
        title = (
            f"{diagram.title}\n{diagram.params / 1e6:.2f}M params, "
            f"{diagram.mult_adds / 1e9:.2f}G mult-adds"
        )
        ax.text(centre, 0.95, title, ha="center", va="bottom", fontsize=8, weight="bold")
        ax.add_patch(
            FancyBboxPatch(
                (left, -_BOX),
                _WIDTH,
                _BOX,
                boxstyle="round,pad=0.02",
                facecolor="white",
                edgecolor="0.4",
                lw=0.6,
            )
        )
        ax.text(
            centre,
            -_BOX / 2,
            f"image, {diagram.input_size}x{diagram.input_size}",
            ha="center",
            va="center",
            fontsize=6.5,
        )
        y_of, placed = [], {}
        for layer in diagram.layers:
            y = band_top[layer.size] - placed.get(layer.size, 0)
            placed[layer.size] = placed.get(layer.size, 0) + 1
            y_of.append(y)
            box = FancyBboxPatch(
                (left, y - _BOX),
                _WIDTH,
                _BOX,
                boxstyle="round,pad=0.02",
                facecolor=colours[layer.size],
                edgecolor="0.35",
                lw=0.6,
                gid=layer.name,
            )
            ax.add_patch(box)
            ax.text(centre, y - _BOX / 2, layer.label, ha="center", va="center", fontsize=6.5)
        for previous, y in zip([-0.0] + y_of[:-1], y_of):  # the arrows between boxes
            ax.annotate(
                "",
                xy=(centre, y),
                xytext=(centre, previous - _BOX),
                arrowprops={"arrowstyle": "-|>", "lw": 0.5, "color": "0.3", "mutation_scale": 5},
            )
        right = left + _WIDTH
        for shortcut in diagram.shortcuts:
            start = y_of[shortcut.start] + (1 - _BOX) / 2  # from the arrow into the block
            end = y_of[shortcut.end] - _BOX - (1 - _BOX) / 4  # to the one out of it
            arc = FancyArrowPatch(
                (right - 0.1, start),
                (right - 0.1, end),
                connectionstyle="arc3,rad=-0.6",
                arrowstyle="-|>",
                mutation_scale=6,
                lw=0.8,
                color="0.15",
                linestyle=":" if shortcut.changes_dimensions else "-",
                gid=f"shortcut:{shortcut.kind}",
            )
            ax.add_patch(arc)

    handles = [
        Line2D([], [], color="0.15", lw=0.8, label="identity shortcut"),
        Line2D(
            [],
            [],
            color="0.15",
            lw=0.8,
            ls=":",
            label="shortcut that increases dimensions (projection or zero-padding)",
        ),
    ]
    if any(d.shortcuts for d in diagrams):
        fig.legend(handles=handles, loc="upper center", ncol=2, fontsize=7, frameon=False)
    return fig
