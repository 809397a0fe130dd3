"""Counting (learnres/analysis/summary.py): the paper's parameter and mult-add figures,
agreement with torch's FlopCounterMode on the twins, and the ``learnres summary`` CLI."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from learnres.analysis import summary
from learnres.analysis.summary import format_count
from learnres.autograd import OpError
from learnres.cli import main as cli_main
from learnres.models import VGG, get_model, mlp, resnet
from learnres.nn import Conv2d, Linear, Sequential
from learnres.reference import to_torch

# Table 6 (CIFAR, option A): parameters in millions, as printed
CIFAR_PARAMS = {
    "resnet20": 0.27,
    "resnet32": 0.46,
    "resnet44": 0.66,
    "resnet56": 0.85,
    "resnet110": 1.7,
    "resnet1202": 19.4,
}
# DESIGN.md: torchvision's exact counts
IMAGENET_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}
# Table 1: FLOPs (multiply-adds) at 224x224, bottlenecks with the stride in their 1x1
TABLE_1_MULT_ADDS = {
    "resnet18": 1.8e9,
    "resnet34": 3.6e9,
    "resnet50": 3.8e9,
    "resnet101": 7.6e9,
    "resnet152": 11.3e9,
}


@functools.cache
def built(name: str, **kwargs):
    """One model per name for the tests that only count it (ResNet-152 takes seconds)."""
    return get_model(name, **kwargs)


@pytest.mark.parametrize("name", list(CIFAR_PARAMS))
def test_cifar_parameters_match_table_6(name):
    result = summary(built(name), (3, 32, 32), print_table=False)
    digits = 2 if CIFAR_PARAMS[name] < 1 else 1
    assert round(result.total_params / 1e6, digits) == CIFAR_PARAMS[name]
    assert result.trainable_params == result.total_params == built(name).num_parameters()


@pytest.mark.parametrize("name", list(IMAGENET_PARAMS))
def test_imagenet_parameters_and_table_1_mult_adds(name):
    result = summary(built(name), (3, 224, 224), print_table=False)
    assert result.total_params == IMAGENET_PARAMS[name]
    assert abs(result.mult_adds / TABLE_1_MULT_ADDS[name] - 1) < 0.03


def test_torchvision_bottleneck_layout_costs_more():
    # the stride on the 3x3 ("v1.5") is what makes torchvision's ResNet-50 4.1 GFLOPs
    tv_layout = summary(
        get_model("resnet50", stride_in_1x1=False), (3, 224, 224), print_table=False
    )
    assert tv_layout.total_params == IMAGENET_PARAMS["resnet50"]
    assert round(tv_layout.mult_adds / 1e9, 1) == 4.1


def torch_mult_adds(model, shape) -> int:
    twin = to_torch(model).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        twin(torch.zeros((1, *shape)))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


@pytest.mark.parametrize(
    "name, size",
    [
        ("resnet20", 32),
        ("resnet110", 32),
        ("plain56", 32),
        ("resnet18", 224),
        ("resnet50", 224),
        ("resnet152", 64),
        ("plain34", 64),
        ("mlp20", 32),
    ],
)
def test_mult_adds_agree_with_torch_flop_counter(name, size):
    ours = summary(built(name), (3, size, size), print_table=False).mult_adds
    assert ours == torch_mult_adds(built(name), (3, size, size))


@pytest.mark.parametrize("shortcut", ["B", "C"])
def test_projection_shortcuts_are_counted(shortcut):
    model = resnet(20, shortcut=shortcut)
    result = summary(model, (3, 32, 32), print_table=False)
    assert result.total_params == model.num_parameters()
    assert result.mult_adds == torch_mult_adds(model, (3, 32, 32))
    assert result.mult_adds > summary(built("resnet20"), (3, 32, 32), print_table=False).mult_adds


def test_resnet1202_is_counted_without_computing_it():
    result = summary(built("resnet1202"), (3, 32, 32), print_table=False)
    assert round(result.total_params / 1e6, 1) == 19.4
    # a 3x3 conv costs the same in every stage (the channels double as the map halves),
    # except the two that widen 16->32 and 32->64, which cost half: conv1 + 6n convs + fc
    n, conv = 200, 16 * 16 * 9 * 32 * 32
    assert result.mult_adds == 3 * 16 * 9 * 32 * 32 + (6 * n - 1) * conv + 64 * 10


def test_shape_rules_agree_with_running_the_layers():
    for model, shape in [
        (resnet(14, shortcut="B"), (2, 3, 20, 20)),
        (get_model("resnet50"), (1, 3, 48, 40)),
        (mlp(6, 8), (2, 3, 32, 32)),
        (VGG(16, batch_norm=True, fc_width=8), (2, 3, 64, 48)),  # 7x7 pool of 2x1 maps
        (get_model("resnet18-cifar"), (2, 3, 32, 32)),
    ]:
        by_rule = summary(model, shape, print_table=False)
        computed = summary(model, shape, print_table=False, shapes_only=False)
        assert [(r.name, r.output_shape, r.params, r.mult_adds) for r in by_rule.rows] == [
            (r.name, r.output_shape, r.params, r.mult_adds) for r in computed.rows
        ]


# torchvision's configuration "E" (VGG-19): 3x3 convolutions of these widths, "M" a 2x2 pool
VGG19_CFG = [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
]


def vgg_mult_adds(cfg, size: int = 224, fc=(4096, 4096, 1000)) -> int:
    """Conv mult-adds (H*W*C_out * C_in*9 per 3x3 layer, padding 1) plus the fc layers'."""
    total, c_in = 0, 3
    for v in cfg:
        if v == "M":
            size //= 2
        else:
            total += size * size * v * c_in * 9
            c_in = v
    widths = [512 * 7 * 7, *fc]
    return total + sum(a * b for a, b in zip(widths, widths[1:]))


def test_vgg19_costs_fig_3s_19_6_billion_mult_adds():
    result = summary(built("vgg19"), (3, 224, 224), print_table=False)
    assert result.mult_adds == vgg_mult_adds(VGG19_CFG)
    assert round(result.mult_adds / 1e9, 1) == 19.6  # Fig. 3 and Sec. 3.3
    assert round(result.mult_adds / 1e9, 2) == 19.63  # torchvision's "GFLOPS" of vgg19
    assert result.total_params == 143_667_240  # torchvision's (tests/models/test_vgg.py)
    assert [r.output_shape for r in result.rows if r.name in ("pool5", "avgpool")] == [
        (1, 512, 7, 7)
    ] * 2  # at 224x224 torchvision's 7x7 adaptive pool changes nothing


def test_vgg_and_cifar_models_agree_with_torch_flop_counter():
    for model, shape in [
        (VGG(19, batch_norm=True, fc_width=64), (3, 64, 64)),
        (get_model("vgg16-cifar"), (3, 32, 32)),
        (get_model("resnet18-cifar"), (3, 32, 32)),
    ]:
        ours = summary(model, shape, print_table=False).mult_adds
        assert ours == torch_mult_adds(model.eval(), shape)
    narrow = summary(VGG(19, fc_width=64), (3, 224, 224), print_table=False).mult_adds
    assert narrow == vgg_mult_adds(VGG19_CFG, fc=(64, 64, 1000))


def test_rows_roll_up_into_their_parents():
    result = summary(built("resnet20"), (3, 32, 32), print_table=False)
    rows = {r.name: r for r in result.rows}
    assert rows[""].params == result.total_params
    assert rows[""].mult_adds == result.mult_adds
    block = rows["conv3_x.0"]
    assert block.params == sum(r.params for n, r in rows.items() if n.startswith("conv3_x.0."))
    assert rows["conv3_x.0.conv1"].output_shape == (1, 32, 16, 16)
    assert rows["conv3_x.0.conv1"].mult_adds == 32 * 16 * 16 * 16 * 9
    assert rows["fc"].mult_adds == 64 * 10


def test_counting_leaves_the_model_as_it_was():
    model = resnet(8).double()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    summary(model, (3, 32, 32), print_table=False, shapes_only=False)
    assert model.training
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert "forward" not in model.__dict__ and "forward" not in model.conv1.__dict__


def test_batch_size_multiplies_mult_adds_not_parameters():
    one = summary(built("resnet20"), (3, 32, 32), print_table=False)
    four = summary(built("resnet20"), (4, 3, 32, 32), print_table=False)
    assert four.mult_adds == 4 * one.mult_adds and four.total_params == one.total_params


def test_table_is_printed(capsys):
    result = summary(built("resnet20"), (3, 32, 32), max_depth=1)
    out = capsys.readouterr().out
    assert out.strip() == str(result).strip()
    assert "conv2_x (Sequential)" in out and "(1, 16, 32, 32)" in out
    assert "Total params: 269,722" in out and "Mult-adds: 40.55M" in out
    assert "conv2_x.0" not in out and "  0 (BasicBlock)" not in out  # depth 1 only
    assert "  0 (BasicBlock)" in result.format(max_depth=2)


def test_format_count():
    assert format_count(11_689_512) == "11.69M"
    assert format_count(3_857_973_248) == "3.86G"
    assert format_count(640) == "640"


def test_any_module_can_be_counted():
    net = Sequential(Conv2d(3, 8, 3, padding=1), Conv2d(8, 8, 3, stride=2))
    result = summary(net, (3, 9, 9), print_table=False)
    assert result.total_params == 3 * 8 * 9 + 8 + 8 * 8 * 9 + 8
    assert result.mult_adds == 8 * 9 * 9 * 3 * 9 + 8 * 4 * 4 * 8 * 9
    assert summary(Linear(5, 3), (7, 5), print_table=False).mult_adds == 7 * 5 * 3


@pytest.mark.parametrize(
    "name, shape, message",
    [
        ("resnet20", (1, 32, 32), "expects images"),
        ("resnet18", (3, 8, 8), "at least 32x32"),
        ("resnet20", (32, 32, 3), "channels-last"),
    ],
)
def test_wrong_input_shapes_are_refused(name, shape, message):
    with pytest.raises(OpError, match=message):
        summary(built(name), shape, print_table=False)


@pytest.mark.parametrize("shapes_only", [True, False])
def test_an_input_smaller_than_a_kernel_is_refused(shapes_only):
    with pytest.raises(OpError, match="smaller than its 5x5 kernel|smaller than its kernel"):
        summary(Conv2d(3, 4, 5), (3, 4, 4), print_table=False, shapes_only=shapes_only)
    with pytest.raises(OpError, match="expected 3 channels"):
        summary(Conv2d(3, 4, 1), (2, 4, 4), print_table=False, shapes_only=shapes_only)


def test_cli_prints_the_summary(capsys):
    assert cli_main(["summary", "resnet50", "--max-depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 25,557,032" in out and "3.86G" in out
    assert cli_main(["summary", "resnet50", "--stride-in-3x3", "--max-depth", "0"]) == 0
    assert "4.09G" in capsys.readouterr().out
    assert (
        cli_main(["summary", "resnet20", "--input-shape", "3", "64", "64", "--shortcut", "B"]) == 0
    )
    assert "(1, 64, 16, 16)" in capsys.readouterr().out


def test_cli_counts_vgg_mlps_and_the_cifar_models(capsys):
    assert cli_main(["summary", "vgg19", "--max-depth", "0"]) == 0
    out = capsys.readouterr().out
    assert "VGG-19: input (1, 3, 224, 224)" in out and "Total params: 143,667,240" in out
    assert "Mult-adds: 19.63G" in out
    for name, width in [("mlp20", 256), ("mlp56", 256)]:
        assert cli_main(["summary", name, "--max-depth", "1"]) == 0
        out = capsys.readouterr().out
        assert "input (1, 3, 32, 32)" in out and f"(1, {width})" in out
    assert cli_main(["summary", "resnet34-cifar", "--num-classes", "100"]) == 0
    out = capsys.readouterr().out
    assert "ResNet-34 (CIFAR stem): input (1, 3, 32, 32)" in out and "(1, 512, 4, 4)" in out


def test_cli_rejects_bad_input(capsys):
    assert cli_main(["summary", "resnet21"]) == 2
    assert "valid names: resnet20" in capsys.readouterr().err
    assert cli_main(["summary", "resnet18", "--input-shape", "3", "16", "16"]) == 2
    assert "at least 32x32" in capsys.readouterr().err
    assert cli_main(["summary", "resnet20", "--input-shape", "32", "32"]) == 2
