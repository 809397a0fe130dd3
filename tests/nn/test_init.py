"""learnres.nn.init: the formulas against torch.nn.init's, the distributions statistically
(on tensors large enough that a wrong std is far outside the sampling error), dtype and
device preservation, and reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from learnres.backend import asnumpy, to_device
from learnres.nn import Parameter, init

SHAPES = [(512, 256), (256, 128, 3, 3), (64, 16, 7, 7)]


def _empty(shape, dtype=np.float32, device="cpu"):
    return Parameter(to_device(np.zeros(shape, dtype=dtype), device))


@pytest.mark.parametrize("shape", SHAPES + [(10, 3, 1, 1), (7, 5, 2, 3)])
def test_fan_in_and_fan_out_match_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.calculate_fan_in_and_fan_out(_empty(shape)) == expected


@pytest.mark.parametrize(
    "nonlinearity, param",
    [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", math.sqrt(5)),
    ],
)
def test_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_has_he_std(shape, mode):
    """He et al. 2015, eq. (10)/(14): std = sqrt(2 / fan) for ReLU."""
    w = init.kaiming_normal_(_empty(shape), mode=mode, nonlinearity="relu").data.astype(np.float64)
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(w)
    std = math.sqrt(2.0 / (fan_in if mode == "fan_in" else fan_out))
    # the sample std of n normals is off by about std / sqrt(2n) (< 0.1% here): 2% is far out
    assert w.std() == pytest.approx(std, rel=0.02)
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)
    # a normal distribution: 68.3% within one std, and no clipping (4 std values occur)
    assert np.mean(np.abs(w) < std) == pytest.approx(0.6827, abs=0.01)
    assert np.abs(w).max() > 4 * std
    # and the same std as torch's own kaiming_normal_
    theirs = torch.nn.init.kaiming_normal_(torch.empty(shape), mode=mode, nonlinearity="relu")
    assert w.std() == pytest.approx(theirs.std().item(), rel=0.02)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("a", [0.0, math.sqrt(5)])
def test_kaiming_uniform_bounds_and_std(shape, a):
    w = init.kaiming_uniform_(_empty(shape), a=a).data.astype(np.float64)
    fan_in, _ = init.calculate_fan_in_and_fan_out(w)
    bound = math.sqrt(2.0 / (1 + a**2)) * math.sqrt(3.0 / fan_in)
    assert np.abs(w).max() <= bound * (1 + 1e-6)  # float32 rounding of the bound
    assert np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # U(-b, b): std b/sqrt(3)
    theirs = torch.nn.init.kaiming_uniform_(torch.empty(shape), a=a)
    assert np.abs(w).max() == pytest.approx(theirs.abs().max().item(), rel=0.01)
    if a == math.sqrt(5):  # torch's default for Linear and Conv2d: bound 1/sqrt(fan_in)
        assert bound == pytest.approx(1 / math.sqrt(fan_in))


def test_normal_uniform_and_constants():
    w = init.normal_(_empty((1000, 1000)), mean=2.0, std=0.5).data
    assert w.mean() == pytest.approx(2.0, abs=0.005) and w.std() == pytest.approx(0.5, rel=0.01)
    u = init.uniform_(_empty((1000, 1000)), -3.0, 1.0).data
    assert u.min() >= -3.0 and u.max() <= 1.0 and u.min() < -2.99 and u.max() > 0.99
    assert u.mean() == pytest.approx(-1.0, abs=0.01)
    assert (init.constant_(_empty((3, 4)), 0.25).data == 0.25).all()
    assert (init.ones_(_empty((3,))).data == 1).all()
    assert (init.zeros_(Parameter(np.ones((2, 2), dtype=np.float32))).data == 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_init_fills_in_place_keeping_dtype_and_device(dtype, device):
    p = _empty((32, 16, 3, 3), dtype=dtype, device=device)
    array = p.data
    assert init.kaiming_normal_(p, mode="fan_out", nonlinearity="relu") is p
    assert p.data is array and p.dtype == dtype and p.device == device
    assert asnumpy(p.data).std() > 0
    init.uniform_(p, -1, 1)
    init.ones_(p)
    assert p.data is array and p.dtype == dtype and p.device == device


def test_rng_and_manual_seed_make_draws_reproducible():
    a = init.normal_(_empty((5, 5)), rng=np.random.default_rng(3)).data.copy()
    b = init.normal_(_empty((5, 5)), rng=np.random.default_rng(3)).data.copy()
    np.testing.assert_array_equal(a, b)
    init.manual_seed(11)
    c = init.kaiming_uniform_(_empty((5, 5))).data.copy()
    d = init.kaiming_uniform_(_empty((5, 5))).data.copy()
    init.manual_seed(11)
    np.testing.assert_array_equal(init.kaiming_uniform_(_empty((5, 5))).data, c)
    assert not np.array_equal(c, d)
    # an explicit rng leaves the module-level generator alone
    init.manual_seed(11)
    init.normal_(_empty((5, 5)), rng=np.random.default_rng(0))
    np.testing.assert_array_equal(init.kaiming_uniform_(_empty((5, 5))).data, c)


def test_bad_arguments():
    with pytest.raises(
        ValueError, match=r"fan in and fan out need a tensor with >= 2 dimensions, got shape \(5,\)"
    ):
        init.kaiming_normal_(_empty((5,)))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_normal_(_empty((5, 5)), mode="fan_avg")
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        init.kaiming_normal_(_empty((5, 5)), nonlinearity="gelu")
    with pytest.raises(TypeError, match="expected a Tensor or Parameter, got ndarray"):
        init.zeros_(np.ones(3))
