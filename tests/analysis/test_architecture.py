"""Fig. 3 drawn from the models (learnres/analysis/architecture.py): the layers, their output
sizes and the shortcuts a diagram reads from a model, and what the figure draws of them."""

from __future__ import annotations

import pytest

from learnres.analysis.architecture import draw_architectures, layer_diagram
from learnres.models import VGG, get_model, plain34, resnet, resnet34


def test_resnet34_as_fig_3_draws_it():
    d = layer_diagram(resnet34(shortcut="A"), (3, 224, 224), title="34-layer residual")
    assert d.weighted_layers == 34 and d.title == "34-layer residual"
    assert [layer.label for layer in d.layers[:3]] == [
        "7x7 conv, 64, /2",
        "3x3 max pool, /2",
        "3x3 conv, 64",
    ]
    assert [layer.label for layer in d.layers[-2:]] == ["avg pool", "fc 1000"]
    convs = [layer for layer in d.layers if layer.kind == "conv"]
    sizes = [layer.size for layer in convs]
    assert sizes == [112] + [56] * 6 + [28] * 8 + [14] * 12 + [7] * 6  # Table 1's stages
    assert sum(layer.label.endswith("/2") for layer in convs) == 4  # conv1, conv3_1 .. conv5_1
    # one shortcut per basic block (3 + 4 + 6 + 3), around its two 3x3 convolutions
    assert len(d.shortcuts) == 16
    assert all(s.end == s.start + 1 and d.layers[s.start].kind == "conv" for s in d.shortcuts)
    assert [s.kind for s in d.shortcuts if s.changes_dimensions] == ["zero-pad"] * 3
    first_of_stage = [d.layers[s.start].label for s in d.shortcuts if s.changes_dimensions]
    assert first_of_stage == ["3x3 conv, 128, /2", "3x3 conv, 256, /2", "3x3 conv, 512, /2"]


def test_shortcut_options_b_and_c_are_projections():
    b = layer_diagram(resnet(20, shortcut="B"), (3, 32, 32))
    c = layer_diagram(resnet(20, shortcut="C"), (3, 32, 32))
    assert [s.kind for s in b.shortcuts].count("projection") == 2
    assert {s.kind for s in c.shortcuts} == {"projection"} and len(c.shortcuts) == 9
    # the projection's 1x1 convolutions are the dotted line, not boxes
    assert b.weighted_layers == c.weighted_layers == 20


def test_the_plain_net_has_the_layers_without_shortcuts():
    plain = layer_diagram(plain34(), (3, 224, 224))
    residual = layer_diagram(resnet34(), (3, 224, 224))
    assert [layer.label for layer in plain.layers] == [layer.label for layer in residual.layers]
    # option B's three 1x1 stride-2 projections (at 28, 14, 7) are the only difference in cost
    projections = 28 * 28 * 128 * 64 + 14 * 14 * 256 * 128 + 7 * 7 * 512 * 256
    assert plain.shortcuts == [] and plain.mult_adds == residual.mult_adds - projections


def test_vgg19_column():
    d = layer_diagram(VGG(19, fc_width=64), (3, 224, 224))
    assert d.weighted_layers == 19 and d.shortcuts == []
    pools = [layer for layer in d.layers if layer.kind == "pool"]
    assert [p.size for p in pools] == [112, 56, 28, 14, 7]  # the 7x7 adaptive pool is not drawn
    assert [layer.label for layer in d.layers[-3:]] == ["fc 64", "fc 64", "fc 1000"]
    assert {layer.size for layer in d.layers if layer.kind == "conv"} == {224, 112, 56, 28, 14}
    at_32 = layer_diagram(VGG(19, fc_width=64), (3, 32, 32))
    assert "avg pool to 7x7" in [layer.label for layer in at_32.layers]  # 1x1 repeated to 7x7


def test_figure_draws_a_box_per_layer_and_an_arc_per_shortcut():
    pytest.importorskip("matplotlib")
    diagrams = [
        layer_diagram(get_model("vgg16-cifar"), (3, 32, 32)),
        layer_diagram(get_model("plain18-cifar"), (3, 32, 32)),
        layer_diagram(get_model("resnet18-cifar"), (3, 32, 32)),
    ]
    fig = draw_architectures(diagrams)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if type(p).__name__ == "FancyBboxPatch"]
    named = [p.get_gid() for p in boxes if p.get_gid()]
    assert len(boxes) == sum(len(d.layers) for d in diagrams) + len(diagrams)  # + the images
    assert named == [layer.name for d in diagrams for layer in d.layers]
    arcs = [p for p in ax.patches if str(p.get_gid()).startswith("shortcut:")]
    assert len(arcs) == len(diagrams[2].shortcuts) == 8
    dotted = [a for a in arcs if a.get_linestyle() not in ("-", "solid")]
    assert len(dotted) == 3 and all(a.get_gid() == "shortcut:zero-pad" for a in dotted)
    # the boxes of one output size share a colour, the same in every column
    colour = {}
    layers = [layer for d in diagrams for layer in d.layers]
    for box, layer in zip([b for b in boxes if b.get_gid()], layers, strict=True):
        colour.setdefault(layer.size, box.get_facecolor())
        assert box.get_facecolor() == colour[layer.size]
    assert len(set(colour.values())) == len(colour) == 6  # 32, 16, 8, 4, 2 (VGG) and 1
    titles = [t.get_text() for t in ax.texts if "mult-adds" in t.get_text()]
    assert titles[0].startswith("VGG-16-BN (CIFAR)\n14.73M params, 0.31G mult-adds")
