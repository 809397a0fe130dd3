"""Preprocessing and the paper's augmentation, checked against per-image loops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnres.backend import asnumpy, to_device
from learnres.data import Dataset, standard_transforms
from learnres.data.transforms import (
    Compose,
    PadTo,
    RandomCropFlip,
    SubtractMean,
    ToFloat,
    channel_stats,
    crop_flip,
    draw_crop_flip,
    mean_image,
    pad,
    pad_to,
    random_crop_flip,
    to_float,
)


def crop_flip_loop(images, top, left, flip, size):
    """The straightforward version: one image at a time."""
    out = []
    for n in range(len(images)):
        window = images[n, :, top[n] : top[n] + size, left[n] : left[n] + size]
        out.append(window[:, :, ::-1] if flip[n] else window)
    return np.stack(out)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    c=st.integers(1, 3),
    size=st.integers(1, 8),
    padding=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_crop_flip_equals_the_loop(n, c, size, padding, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, c, size + 2 * padding, size + 2 * padding))
    top, left, flip = draw_crop_flip(rng, n, padding)
    assert np.array_equal(
        crop_flip(images, top, left, flip, size), crop_flip_loop(images, top, left, flip, size)
    )


def test_random_crop_flip_is_pad_then_the_drawn_crops():
    images = np.random.default_rng(0).integers(0, 256, size=(16, 3, 32, 32), dtype=np.uint8)
    out = random_crop_flip(images, np.random.default_rng(7), padding=4)
    top, left, flip = draw_crop_flip(np.random.default_rng(7), 16, 4)
    expected = crop_flip_loop(pad(images, 4), top, left, flip, 32)
    assert out.shape == (16, 3, 32, 32) and out.dtype == np.uint8
    assert np.array_equal(out, expected)
    assert np.array_equal(random_crop_flip(images, np.random.default_rng(7)), out)


def test_flip_probability_is_one_half():
    ramp = np.arange(2, dtype=np.float32).reshape(1, 1, 1, 2)  # (1, 1, 1, 2): [0, 1]
    images = np.repeat(ramp, 2, axis=2).repeat(4000, axis=0)  # (4000, 1, 2, 2)
    out = random_crop_flip(images, np.random.default_rng(0), padding=0)
    flipped = out[:, 0, 0, 0] == 1
    assert (out[~flipped] == images[~flipped]).all()
    assert 0.47 < flipped.mean() < 0.53


def test_offsets_are_uniform_over_the_padded_range():
    top, left, _ = draw_crop_flip(np.random.default_rng(0), 9000, padding=4)
    for offsets in (top, left):
        counts = np.bincount(offsets, minlength=9)
        assert len(counts) == 9 and counts.min() > 850 and counts.max() < 1150


def test_padding_is_zeros_around_the_image():
    images = np.full((2, 3, 32, 32), 7, dtype=np.uint8)
    padded = pad(images, 4)
    assert padded.shape == (2, 3, 40, 40)
    assert (padded[:, :, 4:36, 4:36] == 7).all() and padded.sum() == images.sum()
    corner = crop_flip(padded, np.zeros(2, int), np.zeros(2, int), np.zeros(2, bool), 32)
    assert (corner[:, :, :4, :] == 0).all() and (corner[:, :, :, :4] == 0).all()
    assert (corner[:, :, 4:, 4:] == 7).all()


def test_pad_to_32_centres_fashion_mnist():
    images = np.full((3, 1, 28, 28), 200, dtype=np.uint8)
    out = pad_to(images, 32)
    assert out.shape == (3, 1, 32, 32)
    assert (out[:, :, 2:30, 2:30] == 200).all() and out.sum() == images.sum()
    with pytest.raises(ValueError, match="larger images of 28x28"):
        pad_to(images, 24)


def test_to_float_scales_to_unit_range():
    x = to_float(np.array([0, 51, 255], dtype=np.uint8).reshape(1, 1, 1, 3))
    assert x.dtype == np.float32 and np.allclose(x.ravel(), [0.0, 0.2, 1.0])


def test_mean_image_and_channel_stats_match_numpy():
    images = np.random.default_rng(0).integers(0, 256, size=(50, 3, 4, 4), dtype=np.uint8)
    x = images / 255.0
    assert np.allclose(mean_image(images, chunk=7), x.mean(axis=0), atol=1e-6)
    mean, std = channel_stats(images, chunk=7)
    assert np.allclose(mean, x.mean(axis=(0, 2, 3)), atol=1e-6)
    assert np.allclose(std, x.std(axis=(0, 2, 3)), atol=1e-6)


def _toy_train(n=200, shape=(3, 32, 32), seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    return Dataset(images, rng.integers(0, 10, n), tuple("abcdefghij"), "toy")


def test_pixel_mean_subtraction_centres_the_training_set():
    """Section 4.2: the per-pixel mean of the training images is subtracted."""
    train = _toy_train()
    train_tf, test_tf = standard_transforms(train)
    x = test_tf(train.images)
    assert x.dtype == np.float32 and x.shape == (200, 3, 32, 32)
    assert np.abs(x.mean(axis=0)).max() < 1e-5  # every pixel, every channel
    assert isinstance(train_tf.steps[-1], RandomCropFlip)
    assert not any(isinstance(s, RandomCropFlip) for s in test_tf.steps)


def test_channel_normalization_gives_zero_mean_unit_std():
    train = _toy_train()
    _, test_tf = standard_transforms(train, normalization="channel")
    x = test_tf(train.images).astype(np.float64)
    assert np.allclose(x.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert np.allclose(x.std(axis=(0, 2, 3)), 1, atol=1e-4)
    with pytest.raises(ValueError, match="'pixel', 'channel' or None"):
        standard_transforms(train, normalization="global")


def test_fashion_mnist_becomes_32x32_with_a_zero_border():
    train = _toy_train(shape=(1, 28, 28))
    train_tf, test_tf = standard_transforms(train)
    x = test_tf(train.images)
    assert x.shape == (200, 1, 32, 32) and np.abs(x.mean(axis=0)).max() < 1e-5
    assert (x[:, :, :2] == 0).all() and (x[:, :, :, 30:] == 0).all()  # mean of zeros is zero
    assert train_tf(train.images[:5], np.random.default_rng(0)).shape == (5, 1, 32, 32)


def test_training_transform_is_reproducible_with_the_same_generator():
    train = _toy_train(20)
    train_tf, _ = standard_transforms(train)
    a = train_tf(train.images, np.random.default_rng(3))
    b = train_tf(train.images, np.random.default_rng(3))
    c = train_tf(train.images, np.random.default_rng(4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_compose_and_errors():
    mean = np.zeros((3, 32, 32), np.float32)
    tf = Compose([ToFloat(), PadTo(32), SubtractMean(mean)])
    assert "SubtractMean" in repr(tf)
    with pytest.raises(ValueError, match=r"mean image of shape \(3, 32, 32\)"):
        SubtractMean(mean)(np.zeros((1, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match="Generator"):
        RandomCropFlip()(np.zeros((1, 1, 4, 4)), None)


def test_augmentation_on_the_device(device):
    images = np.random.default_rng(0).integers(0, 256, size=(8, 3, 32, 32), dtype=np.uint8)
    train_tf, _ = standard_transforms(images)
    on_device = train_tf(to_device(images, device), np.random.default_rng(1))
    on_cpu = train_tf(images, np.random.default_rng(1))
    assert np.allclose(asnumpy(on_device), on_cpu, atol=1e-6)
