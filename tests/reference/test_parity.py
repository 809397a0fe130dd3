"""Whole-model parity: every CIFAR ResNet and plain net up to 110 layers, shortcut options
A/B/C, the ImageNet models at 64x64, the deep MLPs, VGG and the CIFAR-100 comparison's nets
agree with their PyTorch twins, module by module, in train and eval mode
(learnres.reference.compare, float64).

What is asserted:

* ``report.ok``: every module call agrees with its twin module given the same input (output,
  dL/dinput, parameter gradients, running statistics) within FLOAT64_RTOL = 1e-10;
* the end-to-end errors (each model fed by itself: every parameter gradient and running
  statistic after the step) are within ``END_TO_END_RTOL`` below.

End-to-end tolerance: 1e-10 for the ResNets, and for every model in eval mode. Deep plain
nets in train mode amplify rounding differences about 1.4x per block (batch statistics make
their input-output map chaotic): measured here, plain-56 reaches ~4e-11 and plain-110 ~3e-7
on the parameter gradients although every layer agrees to ~1e-15 given the same input. So
plain-110 (train) is held to 1e-5 end to end; its same-input check stays at 1e-10. The MLPs
normalise each feature over the batch alone (BN1d), where batch 2 is degenerate (every
normalised value is +-1; end-to-end errors reach 1e-5 at 20 layers), so they run at batch
8: 20 layers then agree to ~1e-13 end to end (measured: plain-56 MLP 3e-8, residual 6e-13).
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.cli import main as cli_main
from learnres.models import VGG, get_model, resnet
from learnres.nn import init
from learnres.reference import compare
from learnres.reference.check import layer_relative_error
from learnres.testing import FLOAT64_RTOL, relative_error

CIFAR = [
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "plain20",
    "plain32",
    "plain44",
    "plain56",
    "plain110",
]
IMAGENET = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "plain18", "plain34"]
MODES = ["train", "eval"]


def end_to_end_rtol(name: str, mode: str) -> float:
    if name == "plain110" and mode == "train":
        return 1e-5  # measured 3e-7: see the module docstring
    return FLOAT64_RTOL


def run(model, shape, mode, seed=0, num_classes=10):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    target = rng.integers(0, num_classes, size=shape[0])
    return compare(model, x, target, mode=mode)


def assert_parity(report, end_to_end=FLOAT64_RTOL):
    assert report.ok, str(report)
    assert report.worst_local_error <= FLOAT64_RTOL, str(report)
    if end_to_end is not None:
        assert report.worst_gradient_error <= end_to_end, str(report)
        assert report.worst_running_stats_error <= end_to_end, str(report)
        assert report.input_grad.error <= end_to_end, str(report)
    assert report.gradients and all(g.error is not None for g in report.gradients)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", CIFAR)
def test_cifar_model_matches_pytorch(name, mode):
    init.manual_seed(0)
    model = get_model(name).double()
    report = run(model, (2, 3, 32, 32), mode)
    assert_parity(report, end_to_end_rtol(name, mode))
    assert len(report.gradients) == len(list(model.parameters()))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shortcut", ["A", "B", "C"])
def test_shortcut_options_match_pytorch(shortcut, mode):
    init.manual_seed(1)
    report = run(resnet(32, shortcut=shortcut).double(), (2, 3, 32, 32), mode, seed=1)
    assert_parity(report)


@pytest.mark.parametrize(
    "mode, name",
    [
        (mode, name)
        if (mode, name[-3:]) not in (("eval", "101"), ("eval", "152"))
        else pytest.param(mode, name, marks=pytest.mark.slow)  # ~10 s each on the CI machine
        for mode in MODES
        for name in IMAGENET
    ],
)
def test_imagenet_model_matches_pytorch_at_64x64(name, mode):
    init.manual_seed(0)
    model = get_model(name).double()
    report = run(model, (2, 3, 64, 64), mode, num_classes=1000)
    assert_parity(report)


@pytest.mark.parametrize("stride_in_1x1", [True, False])
def test_both_bottleneck_layouts_match_pytorch(stride_in_1x1):
    init.manual_seed(0)
    model = get_model("resnet50", stride_in_1x1=stride_in_1x1).double()
    assert_parity(run(model, (2, 3, 64, 64), "train", num_classes=1000))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["mlp20", "resmlp20"])
def test_mlps_match_pytorch(name, mode):
    init.manual_seed(0)
    report = run(get_model(name).double(), (8, 3, 32, 32), mode)
    assert_parity(report)


def test_float32_models_are_compared_in_float64_on_a_copy():
    model = resnet(8)
    before = model.conv1.weight.data.copy()
    report = run(model, (2, 3, 32, 32), "train")
    assert_parity(report)
    assert model.conv1.weight.dtype == np.float32 and model.conv1.weight.grad is None
    np.testing.assert_array_equal(model.conv1.weight.data, before)
    assert model.bn1.num_batches_tracked == 0


def test_compare_leaves_the_model_as_a_training_step_would():
    model = resnet(8).double()
    report = run(model, (2, 3, 32, 32), "train")
    assert report.ok
    assert model.bn1.num_batches_tracked == 1  # one step's statistics
    assert model.conv1.weight.grad is not None
    assert "forward" not in model.__dict__ and "forward" not in model.conv2_x[0].__dict__
    run(model, (2, 3, 32, 32), "eval")
    assert not model.training and model.bn1.num_batches_tracked == 1


def test_untraced_comparison_agrees_too():
    model = resnet(14).double()
    rng = np.random.default_rng(0)
    report = compare(model, rng.standard_normal((2, 3, 32, 32)), np.array([1, 2]), trace=False)
    assert report.ok and not report.traced
    assert all(m.local_forward is None for m in report.modules)
    assert report.worst_gradient_error <= FLOAT64_RTOL


def test_resnet1202_matches_pytorch():
    # forward + backward through 1202 layers at batch 2 in float64, end to end (untraced):
    # ~10 s and 3.5 GB peak on the 2-core CI machine (measured), so it runs by default
    init.manual_seed(0)
    model = get_model("resnet1202").double()
    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((2, 3, 32, 32)), rng.integers(0, 10, size=2)
    report = compare(model, x, target, mode="train", trace=False)
    assert report.ok, str(report)
    assert len(report.gradients) == len(list(model.parameters()))
    assert report.worst_gradient_error <= FLOAT64_RTOL


def test_bad_arguments():
    model = resnet(8).double()
    x = np.zeros((2, 3, 32, 32))
    with pytest.raises(ValueError, match="mode must be 'train' or 'eval'"):
        compare(model, x, np.array([0, 1]), mode="test")
    with pytest.raises(ValueError, match=r"integer class labels of shape \(2,\)"):
        compare(model, x, np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"integer class labels of shape \(2,\)"):
        compare(model, x, np.array([0, 1, 2]))


# ---- VGG, the CIFAR-100 comparison's nets, dropout -------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "depth, batch_norm, size", [(16, False, 32), (19, True, 64)], ids=["vgg16-32", "vgg19bn-64"]
)
def test_vgg_matches_pytorch(depth, batch_norm, size, mode):
    """VGG's layout with a narrow classifier (fc_width 64; the 4096-wide one is what
    ``learnres check vgg16`` compares, ~1 min and ~8 GB in float64). 32x32 reaches pool5 at
    1x1 (repeated to 7x7 by the adaptive pool), 64x64 at 2x2 (overlapping bins). In train
    mode both dropout layers draw the same masks in learnres and in the twin."""
    init.manual_seed(0)
    model = VGG(depth, batch_norm=batch_norm, num_classes=10, fc_width=64).double()
    report = run(model, (2, 3, size, size), mode)
    assert_parity(report)
    assert len(report.gradients) == len(list(model.parameters()))


@pytest.mark.parametrize(
    "name, mode",
    [
        ("vgg16-cifar", "train"),
        ("vgg19-cifar", "eval"),
        ("plain18-cifar", "train"),
        ("resnet34-cifar", "train"),
    ],
)
def test_cifar_comparison_models_match_pytorch(name, mode):
    init.manual_seed(0)
    model = get_model(name, num_classes=100).double()
    assert_parity(run(model, (2, 3, 32, 32), mode, num_classes=100))


def test_a_dropout_that_forgets_to_rescale_is_named(monkeypatch):
    from learnres.functions import mul
    from learnres.nn import Dropout

    def unscaled(self, x):  # the mask without the 1 / (1 - p)
        keep = self.rng.random(x.shape) >= self.p
        return mul(x, keep.astype(x.dtype)) if self.training else x

    init.manual_seed(0)
    model = VGG(16, num_classes=10, fc_width=16).double()  # agrees: test_vgg_matches_pytorch
    monkeypatch.setattr(Dropout, "forward", unscaled)
    report = run(model, (2, 3, 32, 32), "train")
    assert not report.ok and (report.culprit, report.culprit_kind) == ("drop6", "forward")
    assert run(model, (2, 3, 32, 32), "eval").ok  # no dropout in eval mode: nothing to find


def test_a_bias_before_batch_norm_is_judged_by_its_layers_scale(rng):
    # VGG-BN's conv biases: dL/db = sum of the BN input gradient, zero in exact arithmetic
    weight_grad = rng.standard_normal((8, 3, 3, 3))
    ours, theirs = 1e-17 * rng.standard_normal(8), 1e-17 * rng.standard_normal(8)
    assert relative_error(ours, theirs) > 0.1  # rounding noise against rounding noise
    assert layer_relative_error(ours, theirs, [weight_grad]) < 1e-15
    wrong = 1e-6 * rng.standard_normal(8)  # a bias gradient that is really off
    assert layer_relative_error(wrong, theirs, [weight_grad]) > 1e-8
    assert layer_relative_error(ours, theirs) == relative_error(ours, theirs)


def test_check_cli_vgg_and_mlp(capsys):
    assert cli_main(["check", "vgg16-cifar", "--num-classes", "100"]) == 0
    out = capsys.readouterr().out
    assert "VGG-16-BN (CIFAR), train mode, float64, input (2, 3, 32, 32)" in out
    assert "\nOK: " in out
    assert cli_main(["check", "mlp20", "--batch-size", "8"]) == 0
    assert "plain MLP-20, train mode" in capsys.readouterr().out
