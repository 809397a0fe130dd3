"""Every layer against its torch.nn twin (tests/nn/parity.py), in training and evaluation
mode, float64 (FLOAT64_RTOL) and float32 (FLOAT32_RTOL), on every backend; and the errors a
layer gives for input it cannot take."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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
            "Conv2d(3→16) got input with 4 channels (shape (8, 4, 32, 32)); expected 3 channels",
        ),
        (nn.Conv2d(3, 16, 3), _x(3, 32, 32), "Conv2d expects (N, C, H, W), got shape (3, 32, 32)"),
        (
            nn.BatchNorm2d(16),
            _x(8, 4, 5, 5),
            "BatchNorm2d(16) got input with 4 channels (shape (8, 4, 5, 5)); expected 16 channels",
        ),
        (nn.BatchNorm2d(16), _x(8, 16), "BatchNorm2d expects (N, C, H, W), got shape (8, 16)"),
        (
            nn.BatchNorm1d(16),
            _x(8, 16, 2, 2),
            "BatchNorm1d expects (N, C) or (N, C, L), got shape (8, 16, 2, 2)",
        ),
        (nn.BatchNorm1d(16), _x(8, 3), "BatchNorm1d(16) got input with 3 channels (shape (8, 3))"),
        (
            nn.Linear(64, 10),
            _x(8, 32),
            "Linear(64→10) got input with 32 features (shape (8, 32)); expected 64 features",
        ),
        (nn.MaxPool2d(3, 2), _x(2, 3, 8), "MaxPool2d expects (N, C, H, W), got shape (2, 3, 8)"),
        (nn.AvgPool2d(2), _x(2, 3, 8), "AvgPool2d expects (N, C, H, W), got shape (2, 3, 8)"),
        (
            nn.AdaptiveAvgPool2d(1),
            _x(2, 3),
            "AdaptiveAvgPool2d expects (N, C, H, W), got shape (2, 3)",
        ),
        (
            nn.BatchNorm2d(3),
            _x(1, 3, 1, 1),
            "BatchNorm2d(3) in training mode needs more than one value per channel",
        ),
        (
            nn.BatchNorm2d(3, track_running_stats=False).eval(),
            _x(1, 3, 1, 1),
            "BatchNorm2d(3) in training mode needs more than one value per channel",
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
            "Linear(4→2) has float64 parameters but got float32 input (shape (3, 4))",
        ),
        (
            nn.BatchNorm2d(3, affine=False),
            Tensor(np.zeros((2, 3, 2, 2))),
            "BatchNorm2d(3) has float32 parameters but got float64 input",
        ),
    ],
)
def test_layers_reject_input_they_cannot_take(layer, x, message):
    with pytest.raises(OpError, match=re.escape(message)):
        layer(x)


def test_conv2d_rejects_input_smaller_than_kernel():
    with pytest.raises(
        OpError,
        match=re.escape(
            "Conv2d(3→16) with kernel_size=7 got input of size 4x4 (shape (1, 3, 4, 4)), which is "
            "smaller than its 7x7 kernel even after padding 1 (padded size 6x6)"
        ),
    ):
        nn.Conv2d(3, 16, 7, padding=1)(_x(1, 3, 4, 4))
    nn.Conv2d(3, 16, 7, padding=2)(_x(1, 3, 3, 3))  # 7x7 after padding: fits
    with pytest.raises(OpError, match=re.escape("MaxPool2d(kernel_size=3) got input of size 2x2")):
        nn.MaxPool2d(3)(_x(1, 1, 2, 2))


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
