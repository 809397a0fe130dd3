"""The checker can fail, and says where: bugs planted in the learnres model only (the twin
is built from the intact model) are caught and located in the right module."""

from __future__ import annotations

import types

import numpy as np
import pytest

from learnres.cli import main as cli_main
from learnres.functions import batchnorm as batchnorm_functions
from learnres.functions.elementwise import relu
from learnres.models import get_model, resnet
from learnres.nn import init
from learnres.reference import compare, to_torch
from learnres.reference.bugs import plant_bug


def batch(seed=0, size=32, n=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, size, size)), rng.integers(0, 10, size=n)


def model_and_twin(depth=20, **kwargs):
    init.manual_seed(0)
    model = resnet(depth, **kwargs).double()
    return model, to_torch(model, dtype=np.float64)


def forward_without_shortcut(self, x):
    out = relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return relu(out)  # the bug: "+ self.shortcut(x)" is gone


@pytest.mark.parametrize("block", ["conv2_x.1", "conv3_x.0", "conv4_x.2"])
@pytest.mark.parametrize("trace", [True, False])
def test_a_block_that_drops_its_shortcut_is_named(block, trace, monkeypatch):
    model, twin = model_and_twin()
    target = dict(model.named_modules())[block]
    monkeypatch.setattr(
        target, "forward", types.MethodType(forward_without_shortcut, target), raising=False
    )
    report = compare(model, *batch(), twin=twin, trace=trace)
    assert not report.ok
    assert (report.culprit, report.culprit_kind) == (block, "forward")
    assert f">> {block} " in str(report)
    assert report.skipped == [f"{block}.shortcut"]  # the twin called it, learnres did not
    assert f"the twin calls {block}.shortcut; learnres never did" in str(report)


CORRECT_BATCH_NORM_BACKWARD = batchnorm_functions.BatchNorm.backward


def batch_norm_backward_missing_a_term(self, gy):
    # training: dL/dx = (gamma / sigma) * (g - mean(g)), the "- x_hat * mean(g * x_hat)"
    # term missing (written around the correct backward: we add that term back)
    gx, *rest = CORRECT_BATCH_NORM_BACKWARD(self, gy)
    if not self.training:
        return (gx, *rest)
    x_hat = self.x_hat  # (N, C, L)
    g = gy.reshape(x_hat.shape)  # (N, C, H, W) -> (N, C, L)
    mean_g_x_hat = (g * x_hat).sum(axis=(0, 2)) / (x_hat.shape[0] * x_hat.shape[2])
    term = x_hat * (mean_g_x_hat * self.gamma * self.inv_std)[None, :, None]
    return (gx + term.reshape(gx.shape), *rest)


def test_a_batch_norm_backward_missing_a_term_is_named(monkeypatch):
    model, twin = model_and_twin()
    monkeypatch.setattr(
        batchnorm_functions.BatchNorm, "backward", batch_norm_backward_missing_a_term
    )
    report = compare(model, *batch(), mode="train", twin=twin)
    assert not report.ok
    # every forward agrees; the backward pass meets the last BN of the network first
    assert all(not report.bad(m.local_forward) for m in report.modules)
    assert (report.culprit, report.culprit_kind) == ("conv4_x.2.bn2", "backward")
    # the end-to-end gradients are wrong below it, right above it
    errors = {g.name: g.error for g in report.gradients}
    assert report.bad(errors["conv4_x.2.conv2.weight"]) and not report.bad(errors["fc.weight"])


def test_without_tracing_the_first_wrong_parameter_gradient_points_near_it(monkeypatch):
    model, twin = model_and_twin()
    monkeypatch.setattr(
        batchnorm_functions.BatchNorm, "backward", batch_norm_backward_missing_a_term
    )
    report = compare(model, *batch(), twin=twin, trace=False)
    # the parameter just below the broken BN in backward order
    assert (report.culprit, report.culprit_kind) == ("conv4_x.2.conv2", "backward")


def test_no_false_alarm_in_eval_mode_where_that_term_does_not_exist(monkeypatch):
    # in eval mode BN's backward is (gamma / sigma) * g: the planted bug changes nothing there
    model, twin = model_and_twin()
    monkeypatch.setattr(
        batchnorm_functions.BatchNorm, "backward", batch_norm_backward_missing_a_term
    )
    assert compare(model, *batch(), mode="eval", twin=twin).ok


@pytest.mark.parametrize("conv", ["conv1", "conv2_x.1.conv2", "conv3_x.0.conv1"])
def test_a_conv_with_the_wrong_padding_is_named(conv):
    model, twin = model_and_twin()
    dict(model.named_modules())[conv].padding = 0  # after the twin was built
    report = compare(model, *batch(), twin=twin)
    assert not report.ok
    assert (report.culprit, report.culprit_kind) == (conv, "forward")
    assert "shape" in report.culprit_detail
    if conv != "conv1":  # inside a block the residual addition then fails
        assert "add" in report.exception


def test_a_wrong_running_statistics_update_is_named(monkeypatch):
    model, twin = model_and_twin(8)
    model.conv3_x[0].bn2.momentum = 0.2  # the twin keeps 0.1
    report = compare(model, *batch(), twin=twin)
    assert (report.culprit, report.culprit_kind) == ("conv3_x.0.bn2", "running statistics")


def test_an_option_a_shortcut_padding_on_the_wrong_side_is_named(monkeypatch):
    from learnres.functions.shape import getitem, pad

    def zero_channels_first(self, x):  # the bug: zeros BEFORE the existing channels
        x = getitem(x, (slice(None), slice(None), slice(None, None, 2), slice(None, None, 2)))
        return pad(x, ((0, 0), (self.out_planes - self.in_planes, 0), (0, 0), (0, 0)))

    model, twin = model_and_twin(8)
    shortcut = model.conv4_x[0].shortcut
    monkeypatch.setattr(
        shortcut, "forward", types.MethodType(zero_channels_first, shortcut), raising=False
    )
    report = compare(model, *batch(), twin=twin)
    assert (report.culprit, report.culprit_kind) == ("conv4_x.0.shortcut", "forward")


@pytest.mark.parametrize("kind", ["drop-shortcut", "bn-backward", "conv-padding"])
def test_plant_bug_undoes_itself(kind):
    model, twin = model_and_twin()
    with plant_bug(model, kind) as where:
        broken = compare(model, *batch(), twin=twin)
    assert broken.culprit == where
    assert compare(model, *batch(), twin=to_torch(model)).ok


def test_check_cli_finds_a_planted_bug(capsys):
    assert cli_main(["check", "resnet20", "--plant", "bn-backward"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH in the backward: the first wrong module is conv4_x.2.bn2" in out
    assert ">> conv4_x.2.bn2 " in out


def test_check_cli_passes_a_correct_model(capsys):
    assert cli_main(["check", "resnet20", "--mode", "eval", "--batch-size", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "learnres vs PyTorch: ResNet-20, eval mode, float64, input (3, 3, 32, 32)"
    )
    assert "\nOK: " in out


def test_check_cli_imagenet_model_and_options(capsys):
    assert cli_main(["check", "resnet18", "--shortcut", "A", "--batch-size", "2"]) == 0
    assert "ResNet-18, train mode, float64, input (2, 3, 64, 64)" in capsys.readouterr().out
    assert cli_main(["check", "resnet32", "--no-trace", "--input-size", "16", "--full"]) == 0
    out = capsys.readouterr().out
    assert "input (2, 3, 16, 16)" in out and "conv3_x.2.bn2" in out and "... " not in out


def test_check_cli_bad_model_name(capsys):
    assert cli_main(["check", "resnet19"]) == 2
    assert "valid names" in capsys.readouterr().err


def test_plant_bug_rejects_unknown_kinds():
    with (
        pytest.raises(ValueError, match="drop-shortcut, bn-backward, conv-padding"),
        plant_bug(get_model("resnet20"), "typo"),
    ):
        pass
