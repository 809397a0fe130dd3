"""Every layer against its torch.nn twin (tests/nn/parity.py), in training and evaluation
mode, float64 (FLOAT64_RTOL) and float32 (FLOAT32_RTOL), on every backend; and the errors a
layer gives for input it cannot take."""

from __future__ import annotations

import collections
import copy
import importlib
import inspect
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from learnres import functions as F
from learnres import nn
from learnres.autograd import OpError, Tensor
from tests.nn.parity import check_layer

# (layer class name, positional args, keyword args, input shape): the same call builds the
# learnres layer (nn.NAME) and the torch one (torch.nn.NAME).
LAYERS = [
    ("Identity", (), {}, (2, 3, 4, 4)),
    ("ReLU", (), {}, (2, 3, 4, 5)),
    ("Flatten", (), {}, (2, 3, 4, 5)),
    ("Flatten", (), {"start_dim": 2}, (2, 3, 4, 5)),
    ("Linear", (5, 3), {}, (4, 5)),
    ("Linear", (5, 3), {"bias": False}, (4, 5)),
    ("Linear", (6, 2), {}, (2, 3, 6)),
    ("Linear", (6, 2), {}, (6,)),
    ("Conv2d", (3, 4, 3), {"padding": 1}, (2, 3, 6, 6)),
    ("Conv2d", (3, 4, 3), {"stride": 2, "padding": 1, "bias": False}, (2, 3, 7, 6)),
    ("Conv2d", (2, 3, (3, 1)), {"padding": (1, 0)}, (2, 2, 5, 4)),
    ("BatchNorm2d", (3,), {}, (4, 3, 5, 5)),
    ("BatchNorm2d", (3,), {"affine": False}, (4, 3, 5, 5)),
    ("BatchNorm2d", (3,), {"track_running_stats": False}, (4, 3, 5, 5)),
    ("BatchNorm2d", (3,), {"momentum": None}, (4, 3, 5, 5)),
    ("BatchNorm2d", (3,), {"momentum": 0.5, "eps": 1e-3}, (2, 3, 1, 1)),
    ("BatchNorm1d", (3,), {}, (6, 3)),
    ("BatchNorm1d", (3,), {}, (4, 3, 5)),
    ("MaxPool2d", (3, 2, 1), {}, (2, 3, 7, 7)),
    ("MaxPool2d", (2,), {}, (2, 3, 6, 5)),
    ("AvgPool2d", (2,), {}, (2, 3, 6, 6)),
    ("AvgPool2d", (3, 2, 1), {}, (2, 3, 7, 6)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 5, 4)),
    ("AdaptiveAvgPool2d", ((1, 1),), {}, (2, 3, 1, 1)),
    ("AdaptiveAvgPool2d", ((7, 7),), {}, (2, 3, 7, 7)),  # VGG at 224x224: the identity
    ("AdaptiveAvgPool2d", ((7, 7),), {}, (2, 3, 2, 2)),  # VGG at 64x64: overlapping bins
    ("AdaptiveAvgPool2d", (7,), {}, (1, 2, 1, 1)),  # VGG at 32x32: one value repeated
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 3, 5, 7)),
    ("AdaptiveAvgPool2d", ((4, 5),), {}, (1, 2, 13, 9)),
]


def _id(case):
    name, args, kwargs, shape = case
    settings_ = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"{name}({settings_})-{'x'.join(map(str, shape))}"


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", LAYERS, ids=[_id(c) for c in LAYERS])
def test_layer_matches_torch(case, training, dtype, device):
    name, args, kwargs, shape = case
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    check_layer(ours, theirs, shape, device=device, dtype=dtype, training=training)


# A spread of convolutions: strides 1-3, paddings 0-3, kernels 1-7, odd, even and non-square
# inputs, batch 1, 1 to 64 channels. Small images keep it fast.
CONVS = [
    # (in, out, kernel, stride, padding, (N, H, W))
    (1, 1, 1, 1, 0, (1, 5, 5)),
    (3, 8, 3, 1, 1, (2, 8, 8)),
    (3, 8, 3, 2, 1, (2, 9, 9)),
    (4, 6, 3, 3, 2, (3, 10, 7)),
    (2, 5, 5, 1, 2, (1, 6, 9)),
    (5, 3, 5, 2, 0, (2, 11, 12)),
    (3, 16, 7, 2, 3, (2, 12, 12)),
    (2, 4, 7, 3, 3, (1, 9, 13)),
    (16, 32, 1, 2, 0, (2, 8, 8)),
    (64, 8, 3, 1, 1, (1, 5, 4)),
    (8, 64, 1, 1, 0, (2, 3, 3)),
    (6, 6, 3, 1, 0, (2, 3, 3)),  # the output is a single pixel
    (2, 3, 1, 1, 3, (2, 4, 5)),  # padding larger than the kernel
    (4, 4, 3, 2, 1, (1, 2, 2)),
]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    "cin, cout, k, stride, padding, size",
    CONVS,
    ids=[f"{c[0]}to{c[1]}-k{c[2]}s{c[3]}p{c[4]}-{'x'.join(map(str, c[5]))}" for c in CONVS],
)
def test_conv2d_matches_torch(cin, cout, k, stride, padding, size, training, dtype, device):
    n, h, w = size
    for bias in (True, False):
        ours = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias)
        theirs = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias)
        check_layer(
            ours, theirs, (n, cin, h, w), device=device, dtype=dtype, training=training, steps=1
        )


@settings(max_examples=25, deadline=None)
@given(
    cin=st.integers(1, 6),
    cout=st.integers(1, 6),
    k=st.sampled_from([1, 2, 3, 5]),
    stride=st.integers(1, 3),
    padding=st.integers(0, 3),
    n=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
)
def test_conv2d_matches_torch_on_random_shapes(cin, cout, k, stride, padding, n, h, w):
    if h + 2 * padding < k or w + 2 * padding < k:
        return  # too small for the kernel: covered by test_conv2d_rejects_input_smaller_than_kernel
    ours = nn.Conv2d(cin, cout, k, stride=stride, padding=padding)
    theirs = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=padding)
    check_layer(ours, theirs, (n, cin, h, w), steps=1)


def test_sequential_model_matches_torch(dtype, device):
    def build(lib):
        return lib.Sequential(
            lib.Conv2d(3, 8, 3, padding=1, bias=False),
            lib.BatchNorm2d(8),
            lib.ReLU(),
            lib.MaxPool2d(3, 2, 1),
            lib.Conv2d(8, 8, 3, padding=1, bias=False),
            lib.BatchNorm2d(8),
            lib.ReLU(),
            lib.AdaptiveAvgPool2d(1),
            lib.Flatten(),
            lib.Linear(8, 10),
        )

    for training in (True, False):
        check_layer(
            build(nn), build(torch.nn), (4, 3, 8, 8), device=device, dtype=dtype, training=training
        )


def test_mlp_with_batchnorm1d_matches_torch(dtype, device):
    def build(lib):
        return lib.Sequential(
            lib.Flatten(),
            lib.Linear(12, 16, bias=False),
            lib.BatchNorm1d(16),
            lib.ReLU(),
            lib.Linear(16, 16, bias=False),
            lib.BatchNorm1d(16),
            lib.ReLU(),
            lib.Linear(16, 3),
        )

    for training in (True, False):
        check_layer(
            build(nn), build(torch.nn), (8, 3, 2, 2), device=device, dtype=dtype, training=training
        )


# ---- BatchNorm semantics --------------------------------------------------------------------


def test_batchnorm_modes_and_counters(rng):
    bn = nn.BatchNorm2d(2)
    x = Tensor(rng.standard_normal((4, 2, 3, 3)) * 3 + 1)
    bn.double()
    bn(x)
    bn(x)
    assert bn.num_batches_tracked.dtype == np.int64 and int(bn.num_batches_tracked) == 2
    batch_mean = x.data.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(bn.running_mean, (1 - 0.9**2) * batch_mean, rtol=1e-12)
    bn.eval()
    before = bn.running_mean.copy()
    y = bn(x)
    np.testing.assert_array_equal(bn.running_mean, before)  # eval: no update
    assert int(bn.num_batches_tracked) == 2
    expected = (x.data - before[None, :, None, None]) / np.sqrt(bn.running_var + bn.eps)[
        None, :, None, None
    ]
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval(rng):
    bn = nn.BatchNorm2d(2, track_running_stats=False).double().eval()
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    y = bn(Tensor(rng.standard_normal((4, 2, 3, 3)) + 5))
    np.testing.assert_allclose(y.data.mean(axis=(0, 2, 3)), 0, atol=1e-12)


def test_batchnorm_keeps_float32_running_stats_for_float32_input(rng):
    bn = nn.BatchNorm2d(3)
    bn(Tensor(rng.standard_normal((2, 3, 4, 4)).astype(np.float32)))
    assert bn.running_mean.dtype == np.float32 and bn.running_var.dtype == np.float32


# ---- default initialisation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, fan_in",
    [
        (lambda: nn.Linear(400, 300), 400),
        (lambda: nn.Conv2d(64, 128, 3), 64 * 9),
    ],
)
def test_default_init_matches_torchs_bounds(layer, fan_in):
    layer = layer()
    bound = 1 / np.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= bound
        assert np.abs(p.data).max() > 0.95 * bound  # the whole range is used
    w = layer.weight.data
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.03)  # U(-b, b): std b/sqrt(3)
    assert abs(w.mean()) < 4 * bound / np.sqrt(3 * w.size)


def test_batchnorm_init_and_buffers():
    bn = nn.BatchNorm2d(5)
    assert (bn.weight.data == 1).all() and (bn.bias.data == 0).all()
    assert (bn.running_mean == 0).all() and (bn.running_var == 1).all()
    assert bn.num_batches_tracked.shape == () and bn.num_batches_tracked.dtype == np.int64
    assert nn.BatchNorm2d(5, affine=False).num_parameters() == 0


def test_construction_is_reproducible_with_manual_seed():
    nn.init.manual_seed(7)
    a = nn.Conv2d(3, 4, 3)
    nn.init.manual_seed(7)
    b = nn.Conv2d(3, 4, 3)
    c = nn.Conv2d(3, 4, 3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(b.weight.data, c.weight.data)


# ---- bad input ------------------------------------------------------------------------------


def _x(*shape):
    return Tensor(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize(
    "layer, x, message",
    [
        (
            nn.Conv2d(3, 16, 3),
            _x(8, 4, 32, 32),
            "Conv2d(3→16) got input with 4 channels (shape (8, 4, 32, 32)); expected 3 channels "
            "(weight shape (16, 3, 3, 3))",
        ),
        (
            nn.Conv2d(3, 16, 3),
            _x(3, 32, 32),
            "Conv2d(3→16) expects input of shape (N, C, H, W), got shape (3, 32, 32); for a "
            "single image, x.reshape(1, *x.shape) is a batch of one",
        ),
        (
            nn.BatchNorm2d(16),
            _x(8, 4, 5, 5),
            "BatchNorm2d(16) got input with 4 channels (shape (8, 4, 5, 5)); expected 16 channels",
        ),
        (
            nn.BatchNorm2d(16, affine=False),
            _x(8, 4, 5, 5),
            "BatchNorm2d(16) got input with 4 channels (shape (8, 4, 5, 5)); expected 16 channels "
            "(running_mean shape (16,))",
        ),
        (
            nn.BatchNorm2d(16),
            _x(8, 16),
            "BatchNorm2d(16) expects input of shape (N, C, H, W), got shape (8, 16)",
        ),
        (
            nn.BatchNorm1d(16),
            _x(8, 16, 2, 2),
            "BatchNorm1d(16) expects input of shape (N, C) or (N, C, L), got shape (8, 16, 2, 2)",
        ),
        (nn.BatchNorm1d(16), _x(8, 3), "BatchNorm1d(16) got input with 3 channels (shape (8, 3))"),
        (
            nn.Linear(64, 10),
            _x(8, 32),
            "Linear(64→10) got input with 32 features (shape (8, 32)); expected 64 features",
        ),
        (nn.Linear(64, 10), _x(), "Linear(64→10) expects input of shape (*, 64), got a scalar"),
        (
            nn.MaxPool2d(3, 2),
            _x(2, 3, 8),
            "MaxPool2d(kernel_size=3, stride=2) expects input of shape (N, C, H, W), got shape "
            "(2, 3, 8)",
        ),
        (
            nn.AvgPool2d(2),
            _x(2, 3, 8),
            "AvgPool2d(kernel_size=2) expects input of shape (N, C, H, W), got shape (2, 3, 8)",
        ),
        (
            nn.AdaptiveAvgPool2d(1),
            _x(2, 3),
            "AdaptiveAvgPool2d(output_size=1) expects input of shape (N, C, H, W), got shape "
            "(2, 3)",
        ),
        (
            nn.AdaptiveAvgPool2d((7, 7)),
            _x(2, 3, 0, 4),
            "AdaptiveAvgPool2d(output_size=(7, 7)) got an empty image (shape (2, 3, 0, 4))",
        ),
        (
            nn.BatchNorm2d(3),
            _x(1, 3, 1, 1),
            "BatchNorm2d(3) needs more than one value per channel to compute batch statistics, "
            "got input of shape (1, 3, 1, 1); use a batch of 2 or more, or .eval() to use the "
            "running statistics",
        ),
        (
            nn.BatchNorm2d(3, track_running_stats=False).eval(),
            _x(1, 3, 1, 1),
            "BatchNorm2d(3) needs more than one value per channel to compute batch statistics, "
            "got input of shape (1, 3, 1, 1); use a batch of 2 or more",
        ),
        (
            nn.Conv2d(3, 16, 3),
            Tensor(np.zeros((1, 3, 4, 4))),
            "Conv2d(3→16) has float32 parameters but got float64 input (shape (1, 3, 4, 4)); "
            "convert the input with .astype(np.float32) or the model with .double()",
        ),
        (
            nn.Linear(4, 2).double(),
            _x(3, 4),
            "Linear(4→2) has float64 parameters but got float32 input (shape (3, 4)); convert "
            "the input with .astype(np.float64) or the model with .float()",
        ),
        (
            nn.BatchNorm2d(3),
            Tensor(np.zeros((2, 3, 2, 2))),
            "BatchNorm2d(3) has float32 parameters but got float64 input (shape (2, 3, 2, 2))",
        ),
        (
            nn.BatchNorm2d(3, affine=False),
            Tensor(np.zeros((2, 3, 2, 2))),
            "BatchNorm2d(3) has float32 running statistics but got float64 input (shape "
            "(2, 3, 2, 2)); convert the input with .astype(np.float32) or the model with .double()",
        ),
    ],
)
def test_layers_reject_input_they_cannot_take(layer, x, message):
    with pytest.raises(OpError, match=re.escape(message)):
        layer(x)


def test_a_refused_input_counts_no_batch():
    bn = nn.BatchNorm2d(3, momentum=None)
    with pytest.raises(OpError, match="got input with 4 channels"):
        bn(_x(2, 4, 3, 3))
    assert int(bn.num_batches_tracked) == 0


def test_batchnorm_without_per_channel_arrays_takes_any_channels_as_torch():
    """Without gamma, beta and running statistics num_features sizes nothing: torch's
    BatchNorm2d(16, affine=False, track_running_stats=False) normalises 8 channels too."""
    x = np.random.default_rng(0).standard_normal((4, 8, 3, 3))
    y = nn.BatchNorm2d(16, affine=False, track_running_stats=False)(Tensor(x))
    twin = torch.nn.BatchNorm2d(16, affine=False, track_running_stats=False).double()
    np.testing.assert_allclose(y.data, twin(torch.from_numpy(x)).numpy(), rtol=1e-10)


def test_conv2d_rejects_input_smaller_than_kernel():
    with pytest.raises(
        OpError,
        match=re.escape(
            "Conv2d(3→16) got input of size 4x4 (shape (1, 3, 4, 4)), which is smaller than its "
            "7x7 kernel even after padding 1 (padded size 6x6)"
        ),
    ):
        nn.Conv2d(3, 16, 7, padding=1)(_x(1, 3, 4, 4))
    nn.Conv2d(3, 16, 7, padding=2)(_x(1, 3, 3, 3))  # 7x7 after padding: fits
    with pytest.raises(
        OpError,
        match=re.escape(
            "MaxPool2d(kernel_size=3) got input of size 2x2 (shape (1, 1, 2, 2)), which is "
            "smaller than its 3x3 kernel even after padding 0 (padded size 2x2)"
        ),
    ):
        nn.MaxPool2d(3)(_x(1, 1, 2, 2))


def _stats(layer):
    """A batch-norm layer's arrays, for the op called as a function (copies of the buffers)."""
    return layer.running_mean.copy(), layer.running_var.copy(), layer.weight, layer.bias


_CONV, _BN, _BN1, _LIN = nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16), nn.BatchNorm1d(4), nn.Linear(4, 2)
_POOL, _AVG, _GAP = nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(3), nn.AdaptiveAvgPool2d(1)


# (layer, the op called as a function on what the layer holds, bad input, what follows the
# layer's name in its message, what follows the op's name in the function's: None = the same)
BAD_INPUT = {
    "conv layout": (
        _CONV,
        lambda x: F.conv2d(x, _CONV.weight, _CONV.bias),
        _x(3, 8, 8),
        " expects input of shape (N, C, H, W), got shape (3, 8, 8)",
        None,
    ),
    "conv channels": (
        _CONV,
        lambda x: F.conv2d(x, _CONV.weight, _CONV.bias),
        _x(2, 4, 8, 8),
        " got input with 4 channels (shape (2, 4, 8, 8)); expected 3 channels (weight shape "
        "(16, 3, 3, 3))",
        None,
    ),
    "conv size": (
        _CONV,
        lambda x: F.conv2d(x, _CONV.weight, _CONV.bias),
        _x(2, 3, 2, 8),
        " got input of size 2x8 (shape (2, 3, 2, 8)), which is smaller than its 3x3 kernel",
        None,
    ),
    "conv dtype": (
        _CONV,
        lambda x: F.conv2d(x, _CONV.weight, _CONV.bias),
        Tensor(np.zeros((2, 3, 8, 8))),
        " has float32 parameters but got float64 input (shape (2, 3, 8, 8)); convert the input "
        "with .astype(np.float32) or the model with .double()",
        " got float64 input (shape (2, 3, 8, 8)) but float32 weight and float32 bias; the input, "
        "weight and bias must share a dtype: convert the input with .astype(np.float32) or the "
        "weight and bias with .astype(np.float64)",
    ),
    "batch norm layout": (
        _BN,
        lambda x: F.batch_norm(x, *_stats(_BN), training=True),
        _x(8),
        " expects input of shape (N, C, H, W), got shape (8,)",
        " expects input of shape (N, C) or (N, C, L) or (N, C, H, W), got shape (8,)",
    ),
    "batch norm channels": (
        _BN,
        lambda x: F.batch_norm(x, *_stats(_BN), training=True),
        _x(2, 4, 3, 3),
        " got input with 4 channels (shape (2, 4, 3, 3)); expected 16 channels (weight shape "
        "(16,))",
        None,
    ),
    "batch norm one value per channel": (
        _BN1,
        lambda x: F.batch_norm(x, *_stats(_BN1), training=True),
        _x(1, 4),
        " needs more than one value per channel to compute batch statistics, got input of shape "
        "(1, 4); use a batch of 2 or more, or .eval() to use the running statistics",
        " needs more than one value per channel to compute batch statistics, got input of shape "
        "(1, 4); use a batch of 2 or more, or training=False to use the running statistics",
    ),
    "batch norm dtype": (
        _BN,
        lambda x: F.batch_norm(x, *_stats(_BN), training=True),
        Tensor(np.zeros((2, 16, 3, 3))),
        " has float32 parameters but got float64 input (shape (2, 16, 3, 3))",
        " got float64 input (shape (2, 16, 3, 3)) but float32 weight and float32 bias",
    ),
    "max pool layout": (
        _POOL,
        lambda x: F.max_pool2d(x, 3, 2, 1),
        _x(3, 8, 8),
        " expects input of shape (N, C, H, W), got shape (3, 8, 8)",
        None,
    ),
    "avg pool size": (
        _AVG,
        lambda x: F.avg_pool2d(x, 3),
        _x(1, 2, 2, 5),
        " got input of size 2x5 (shape (1, 2, 2, 5)), which is smaller than its 3x3 kernel even "
        "after padding 0 (padded size 2x5)",
        None,
    ),
    "global pool layout": (
        _GAP,
        F.global_avg_pool2d,
        _x(2, 3),
        " expects input of shape (N, C, H, W), got shape (2, 3)",
        None,
    ),
    "global pool empty image": (
        _GAP,
        F.global_avg_pool2d,
        _x(2, 3, 0, 0),
        " got an empty image (shape (2, 3, 0, 0)); H and W must be >= 1",
        None,
    ),
    "linear features": (
        _LIN,
        lambda x: F.linear(x, _LIN.weight, _LIN.bias),
        _x(2, 3, 5),
        " got input with 5 features (shape (2, 3, 5)); expected 4 features (weight shape (2, 4))",
        None,
    ),
    "linear scalar": (
        _LIN,
        lambda x: F.linear(x, _LIN.weight, _LIN.bias),
        _x(),
        " expects input of shape (*, 4), got a scalar",
        None,
    ),
    "linear dtype": (
        _LIN,
        lambda x: F.linear(x, _LIN.weight, _LIN.bias),
        Tensor(np.zeros((2, 4))),
        " has float32 parameters but got float64 input (shape (2, 4))",
        " got float64 input (shape (2, 4)) but float32 weight and float32 bias",
    ),
}
_LAYER_NAMES = {
    _CONV: ("Conv2d(3→16)", "conv2d"),
    _BN: ("BatchNorm2d(16)", "batch_norm"),
    _BN1: ("BatchNorm1d(4)", "batch_norm"),
    _LIN: ("Linear(4→2)", "linear"),
    _POOL: ("MaxPool2d(kernel_size=3, stride=2, padding=1)", "max_pool2d"),
    _AVG: ("AvgPool2d(kernel_size=3)", "avg_pool2d"),
    _GAP: ("AdaptiveAvgPool2d(output_size=1)", "global_avg_pool2d"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_an_error_names_the_layer_called_or_else_the_op(case):
    """Issue 18: one check per input, in the op; its message starts with the layer's name
    when a layer called the op, with the op's when the user did."""
    layer, function, x, after_layer, after_op = BAD_INPUT[case]
    layer_name, op_name = _LAYER_NAMES[layer]
    with pytest.raises(OpError) as through_layer:
        layer(x)
    assert str(through_layer.value).startswith(layer_name + after_layer)
    with pytest.raises(OpError) as through_function:
        function(x)
    assert str(through_function.value).startswith(op_name + (after_op or after_layer))


CHECKING_MODULES = [
    "learnres.functions._checks",
    "learnres.functions.conv",
    "learnres.functions.pool",
    "learnres.functions.batchnorm",
    "learnres.functions.linear",
    "learnres.parallel",
    "learnres.nn._checks",
    "learnres.nn.conv",
    "learnres.nn.pool",
    "learnres.nn.batchnorm",
    "learnres.nn.layers",
]


@pytest.fixture
def check_calls(monkeypatch):
    """Counts the calls of every check function (``check_*``, ``_check_*``) by name, wherever
    it is called from; the scheduled ops split each batch into pieces, in 2 threads."""
    from learnres import parallel

    calls = collections.Counter()

    def counted(name, check):
        def count(*args, **kwargs):
            calls[name] += 1
            return check(*args, **kwargs)

        return count

    for module in map(importlib.import_module, CHECKING_MODULES):
        for name, value in list(vars(module).items()):
            if inspect.isfunction(value) and name.lstrip("_").startswith("check_"):
                monkeypatch.setattr(module, name, counted(name, value))
    monkeypatch.setattr(parallel, "_images", lambda *args: 2)  # pieces of 2 images
    before = parallel.get_num_threads()
    parallel.set_num_threads(2)
    yield calls
    parallel.set_num_threads(before)


_BN_PLAIN = nn.BatchNorm2d(4, affine=False)
CALLS = {  # layer, a good input, the op called as a function, its check
    "Conv2d": (
        _CONV,
        _x(7, 3, 5, 5),
        lambda x: F.conv2d(x, _CONV.weight, _CONV.bias),
        "_check_conv",
    ),
    "BatchNorm2d": (
        _BN,
        _x(6, 16, 2, 2),
        lambda x: F.batch_norm(x, *_stats(_BN), training=True),
        "_check_batch_norm",
    ),
    "BatchNorm1d": (
        _BN1,
        _x(6, 4, 3),
        lambda x: F.batch_norm(x, *_stats(_BN1), training=True),
        "_check_batch_norm",
    ),
    "MaxPool2d": (_POOL, _x(7, 2, 6, 6), lambda x: F.max_pool2d(x, 3, 2, 1), "_check_pool"),
    "AvgPool2d": (_AVG, _x(7, 2, 6, 6), lambda x: F.avg_pool2d(x, 3), "_check_pool"),
    "AdaptiveAvgPool2d": (_GAP, _x(7, 2, 6, 6), F.global_avg_pool2d, "check_images"),
    "Linear": (_LIN, _x(2, 3, 4), lambda x: F.linear(x, _LIN.weight, _LIN.bias), "_check_linear"),
    "BatchNorm2d(affine=False)": (
        _BN_PLAIN,
        _x(6, 4, 2, 2),
        lambda x: F.batch_norm(
            x, _BN_PLAIN.running_mean.copy(), _BN_PLAIN.running_var.copy(), training=True
        ),
        "_check_batch_norm",
    ),
}


@pytest.mark.parametrize("case", CALLS)
def test_a_layer_call_runs_each_check_once(case, check_calls):
    """Issue 18: the layers checked their input, then the op checked it again, then once more
    for every piece of the schedule; now the op's checks run once, on the whole input, and
    the layer adds none of its own (but the one the op cannot make, below)."""
    layer, x, function, op_check = CALLS[case]
    layer(x)
    through_layer = collections.Counter(check_calls)
    check_calls.clear()
    function(x)
    through_function = collections.Counter(check_calls)
    assert through_layer[op_check] == 1, through_layer
    if case == "BatchNorm2d(affine=False)":  # the op takes running statistics of any dtype;
        through_function["check_dtype"] += 1  # the layer checks its own are the input's
    assert through_layer == through_function


def test_bad_layer_settings_are_refused_at_construction():
    for size in (0, (7,), (7, -1), "7", 2.5):
        with pytest.raises(
            ValueError,
            match=re.escape(
                "AdaptiveAvgPool2d takes output_size as a positive int or a pair of them "
                f"(1: global average pooling; (7, 7): VGG), got output_size={size!r}"
            ),
        ):
            nn.AdaptiveAvgPool2d(size)
    with pytest.raises(ValueError, match=r"between 0 and 1, got p=1.5"):
        nn.Dropout(1.5)
    with pytest.raises(
        ValueError, match="padding must be at most half the kernel size, got padding=2"
    ):
        nn.MaxPool2d(3, padding=2)


def test_eval_mode_batchnorm_accepts_a_single_value_per_channel():
    bn = nn.BatchNorm2d(3).eval()
    assert bn(_x(1, 3, 1, 1)).shape == (1, 3, 1, 1)


# ---- adaptive average pooling and dropout ------------------------------------------------------


def test_adaptive_pool_matrix_averages_torchs_bins():
    from learnres.nn.pool import adaptive_pool_matrix

    assert np.array_equal(adaptive_pool_matrix(7, 7), np.eye(7))
    a = adaptive_pool_matrix(2, 7)  # bins [0,1) [0,1) [0,1) [0,2) [1,2) [1,2) [1,2)
    assert np.allclose(a, [[1, 0]] * 3 + [[0.5, 0.5]] + [[0, 1]] * 3)
    for size, out in [(5, 3), (13, 4), (1, 7), (224, 7)]:
        m = adaptive_pool_matrix(size, out)
        assert m.shape == (out, size) and np.allclose(m.sum(axis=1), 1)
        assert (m > 0).any(axis=0).all()  # every input value is read by some bin


def test_dropout_in_eval_mode_and_with_p_0_is_the_identity():
    x = Tensor(np.random.default_rng(0).standard_normal((4, 5)))
    assert nn.Dropout(0.5).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x


def test_dropout_zeroes_a_fraction_p_and_scales_the_rest(rng):
    layer = nn.Dropout(0.3)
    x = Tensor(rng.standard_normal((200, 500)) + 3.0, requires_grad=True)  # no zeros in x
    y = layer(x)
    kept = y.data != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01  # 100,000 draws: 0.01 is ~7 standard deviations
    np.testing.assert_allclose(y.data[kept], x.data[kept] / 0.7, rtol=1e-12)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    np.testing.assert_allclose(x.grad, gy * kept / 0.7, rtol=1e-12)  # dL/dx = dL/dy * mask
    assert not np.array_equal(layer(x).data != 0, kept)  # a new mask every call
    assert (nn.Dropout(1.0)(x).data == 0).all()


def test_dropout_masks_come_from_the_layers_generator():
    from learnres.nn import init

    x = Tensor(np.ones((8, 16), dtype=np.float32))
    init.manual_seed(3)
    first = nn.Dropout()(x).data
    init.manual_seed(3)
    layer = nn.Dropout()
    assert np.array_equal(layer(x).data, first)  # reproducible after manual_seed
    assert layer(x).dtype == np.float32
    twin_rng = copy.deepcopy(layer.rng)  # a copy draws the same masks (the PyTorch twin does)
    assert np.array_equal(layer(x).data != 0, twin_rng.random((8, 16)) >= 0.5)


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: nn.Conv2d(3, 16, 3, stride=0), ValueError, "Conv2d: stride must be an int >= 1"),
        (lambda: nn.Conv2d(3, 16, 3, stride=1.5), TypeError, "Conv2d: stride must be an int"),
        (lambda: nn.Conv2d(3, 16, 3, stride=(1, 0)), ValueError, "got (1, 0)"),
        (lambda: nn.Conv2d(3, 16, 0), ValueError, "Conv2d: kernel_size must be an int >= 1"),
        (lambda: nn.Conv2d(3, 16, 3, padding=-1), ValueError, "padding must be an int >= 0"),
        (lambda: nn.Conv2d(0, 16, 3), ValueError, "Conv2d: in_channels must be an int >= 1"),
        (lambda: nn.Conv2d(3.0, 16, 3), TypeError, "in_channels must be an int"),
        (lambda: nn.Conv2d(3, 16, 3, bias="no"), TypeError, "bias must be True or False"),
        (lambda: nn.MaxPool2d(3, stride=0), ValueError, "MaxPool2d: stride must be an int >= 1"),
        (lambda: nn.AvgPool2d(0), ValueError, "AvgPool2d: kernel_size must be an int >= 1"),
        (lambda: nn.BatchNorm2d(0), ValueError, "BatchNorm2d: num_features must be an int >= 1"),
        (lambda: nn.BatchNorm2d(3, eps=0), ValueError, "eps must be a finite number > 0"),
        (lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError, "momentum must be a finite"),
        (lambda: nn.Linear(-1, 3), ValueError, "Linear: in_features must be an int >= 0"),
    ],
)
def test_bad_layer_arguments_are_refused_where_they_are_written(build, error, message):
    """Issue 15, item 10: main accepted ``Conv2d(..., stride=0)`` and failed later, inside
    the convolution."""
    with pytest.raises(error, match=re.escape(message)):
        build()
