"""Input preprocessing and augmentation of the paper's CIFAR experiments, over whole batches.

Section 4.2: "The network inputs are 32x32 images, with the per-pixel mean subtracted. [...]
We follow the simple data augmentation in [24] for training: 4 pixels are padded on each
side, and a 32x32 crop is randomly sampled from the padded image or its horizontal flip. For
testing, we only evaluate the single view of the original 32x32 image."

The pipeline here, for a batch of uint8 images (N, C, H, W):

1. ``to_float``: float32, scaled to [0, 1] (``x = images / 255``). The paper does not say
   which scale; [0, 1] keeps the same learning rates working for every dataset.
2. ``subtract_mean``: ``x - mean_image`` with the (C, H, W) mean of the *training* images,
   the paper's per-pixel mean; or ``normalize``: ``(x - mean[c]) / std[c]`` per channel,
   the common alternative (an option, not the paper's).
3. training only: ``random_crop_flip``: zero-pad 4 pixels (after the mean subtraction, so
   the padding is the mean colour, as in the authors' Torch code), crop 32x32 at a random
   offset, flip left-right with probability 1/2.

Fashion-MNIST's 28x28 images are first zero-padded to 32x32 (``pad_to``, 2 pixels each side)
so the CIFAR models with ``in_channels=1`` take them unchanged.

Every function works on NumPy or CuPy arrays alike (``xp = get_array_module(x)``). Random
draws come from a ``numpy.random.Generator`` passed in, never from global state, so a
training run repeats exactly. The callable classes (``ToFloat``, ``SubtractMean``, ...,
``Compose``) have the signature ``transform(images, rng) -> images`` the ``DataLoader``
calls once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from learnres.backend import get_array_module

__all__ = [
    "to_float",
    "pad",
    "pad_to",
    "mean_image",
    "channel_stats",
    "subtract_mean",
    "normalize",
    "crop_flip",
    "draw_crop_flip",
    "random_crop_flip",
    "Transform",
    "Compose",
    "ToFloat",
    "PadTo",
    "SubtractMean",
    "Normalize",
    "RandomCropFlip",
    "standard_transforms",
]

Transform = Callable[..., Any]  # transform(images, rng) -> images


def to_float(images):
    """uint8 (N, C, H, W) in 0..255 -> float32 (N, C, H, W) in [0, 1]: ``x = images / 255``."""
    xp = get_array_module(images)
    return images.astype(xp.float32) / xp.float32(255)


def pad(images, padding: int, value: float = 0):
    """Pad height and width by ``padding`` pixels on each side with ``value``.

    (N, C, H, W) -> (N, C, H + 2p, W + 2p), same dtype.
    """
    xp = get_array_module(images)
    p = int(padding)
    return xp.pad(images, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=value)


def pad_to(images, size: int):
    """Zero-pad (N, C, H, W) to (N, C, size, size), centred (28 -> 32: 2 pixels each side)."""
    xp = get_array_module(images)
    h, w = images.shape[-2:]
    if h > size or w > size:
        raise ValueError(f"pad_to({size}) got larger images of {h}x{w} (shape {images.shape})")
    top, left = (size - h) // 2, (size - w) // 2
    widths = ((0, 0), (0, 0), (top, size - h - top), (left, size - w - left))
    return xp.pad(images, widths)


def mean_image(images, chunk: int = 4096) -> np.ndarray:
    """The per-pixel mean of uint8 images scaled to [0, 1] (section 4.2).

    ``mean[c, i, j] = sum_n images[n, c, i, j] / (255 N)``, float32 (C, H, W), summed in
    float64 in chunks, so 50,000 images need no float copy.
    """
    total = np.zeros(images.shape[1:], dtype=np.float64)
    for start in range(0, len(images), chunk):
        total += np.asarray(images[start : start + chunk]).sum(axis=0, dtype=np.float64)
    return (total / (255.0 * len(images))).astype(np.float32)


def channel_stats(images, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of uint8 images scaled to [0, 1].

    ``mean[c] = E[x[:, c]]``, ``std[c] = sqrt(E[x[:, c]^2] - mean[c]^2)`` over N, H, W;
    both float32 (C,).
    """
    c = images.shape[1]
    s1, s2 = np.zeros(c), np.zeros(c)
    for start in range(0, len(images), chunk):
        x = np.asarray(images[start : start + chunk], dtype=np.float64) / 255.0
        s1 += x.sum(axis=(0, 2, 3))
        s2 += (x * x).sum(axis=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s1 / count
    std = np.sqrt(np.maximum(s2 / count - mean**2, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)


def subtract_mean(x, mean):
    """``x - mean``: float (N, C, H, W) minus a (C, H, W) mean image."""
    xp = get_array_module(x)
    return x - xp.asarray(mean, dtype=x.dtype)


def normalize(x, mean, std):
    """``(x - mean[c]) / std[c]`` per channel: float (N, C, H, W), mean and std (C,)."""
    xp = get_array_module(x)
    mean = xp.asarray(mean, dtype=x.dtype).reshape(1, -1, 1, 1)  # (C,) -> (1, C, 1, 1)
    std = xp.asarray(std, dtype=x.dtype).reshape(1, -1, 1, 1)
    return (x - mean) / std


def crop_flip(images, top, left, flip, size: int):
    """Crop ``size`` x ``size`` windows at per-image offsets, flipping some left-right.

    Output ``[n, c, i, j] = images[n, c, top[n] + i, left[n] + j']`` with
    ``j' = size - 1 - j`` where ``flip[n]`` and ``j' = j`` otherwise: one gather over the
    batch, no loop over images.

    Arguments:
        images: (N, C, H, W), usually already padded.
        top, left: int (N,), offsets in ``0..H - size`` and ``0..W - size``.
        flip: bool (N,).
        size: side of the crop.

    Returns:
        (N, C, size, size), same dtype and array module as ``images``.
    """
    xp = get_array_module(images)
    n, c = images.shape[:2]
    top, left, flip = (xp.asarray(a) for a in (top, left, flip))
    steps = xp.arange(size)
    rows = top[:, None] + steps  # (N, size)
    cols = left[:, None] + xp.where(flip[:, None], size - 1 - steps, steps)  # (N, size)
    return images[
        xp.arange(n)[:, None, None, None],  # (N, 1, 1, 1)
        xp.arange(c)[None, :, None, None],  # (1, C, 1, 1)
        rows[:, None, :, None],  # (N, 1, size, 1)
        cols[:, None, None, :],  # (N, 1, 1, size)
    ]  # broadcast to (N, C, size, size)


def draw_crop_flip(rng: np.random.Generator, n: int, padding: int, flip: bool = True):
    """The random draws of ``random_crop_flip`` for ``n`` images, in this order:

    ``top = rng.integers(0, 2p + 1, n)``, ``left = rng.integers(0, 2p + 1, n)``, then (when
    ``flip``) ``flip = rng.random(n) < 0.5``; NumPy arrays.
    """
    top = rng.integers(0, 2 * padding + 1, size=n)
    left = rng.integers(0, 2 * padding + 1, size=n)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)
    return top, left, flips


def random_crop_flip(images, rng: np.random.Generator, padding: int = 4, flip: bool = True):
    """The paper's augmentation (section 4.2): pad, random crop, random horizontal flip.

    Zero-pads ``padding`` pixels on each side, crops a window of the original size at a
    uniformly random offset, and mirrors it left-right with probability 1/2; every image of
    the batch draws its own offset and flip (``draw_crop_flip``).

    (N, C, H, W) -> (N, C, H, W), same dtype and array module.
    """
    n, _, h, w = images.shape
    if h != w:
        raise ValueError(f"random_crop_flip expects square images, got {h}x{w}")
    top, left, flips = draw_crop_flip(rng, n, padding, flip)
    return crop_flip(pad(images, padding), top, left, flips, h)


class Compose:
    """Apply transforms in order: ``Compose([ToFloat(), SubtractMean(m)])(images, rng)``."""

    def __init__(self, steps: Sequence[Transform]):
        self.steps = list(steps)

    def __call__(self, images, rng: np.random.Generator | None = None):
        for step in self.steps:
            images = step(images, rng)
        return images

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.steps)) + "])"


class ToFloat:
    """``to_float``: uint8 -> float32 in [0, 1]."""

    def __call__(self, images, rng=None):
        return to_float(images)

    def __repr__(self) -> str:
        return "ToFloat()"


class PadTo:
    """``pad_to(size)``: zero-pad to size x size (Fashion-MNIST 28 -> 32)."""

    def __init__(self, size: int = 32):
        self.size = size

    def __call__(self, images, rng=None):
        if images.shape[-2:] == (self.size, self.size):
            return images
        return pad_to(images, self.size)

    def __repr__(self) -> str:
        return f"PadTo({self.size})"


class SubtractMean:
    """``subtract_mean``: ``x - mean`` with a (C, H, W) mean image (the paper's, section 4.2)."""

    def __init__(self, mean: np.ndarray):
        self.mean = np.asarray(mean, dtype=np.float32)

    def __call__(self, images, rng=None):
        if images.shape[1:] != self.mean.shape:
            raise ValueError(
                f"SubtractMean with a mean image of shape {self.mean.shape} got images of "
                f"shape {images.shape}"
            )
        return subtract_mean(images, self.mean)

    def __repr__(self) -> str:
        return f"SubtractMean(mean of shape {self.mean.shape})"


class Normalize:
    """``normalize``: ``(x - mean[c]) / std[c]`` per channel."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)

    def __call__(self, images, rng=None):
        if images.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"Normalize for {self.mean.shape[0]} channels got images of shape {images.shape}"
            )
        return normalize(images, self.mean, self.std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCropFlip:
    """``random_crop_flip``: pad ``padding``, random crop of the original size, random flip."""

    def __init__(self, padding: int = 4, flip: bool = True):
        self.padding, self.flip = padding, flip

    def __call__(self, images, rng: np.random.Generator):
        if rng is None:
            raise ValueError("RandomCropFlip needs a numpy.random.Generator, got None")
        return random_crop_flip(images, rng, self.padding, self.flip)

    def __repr__(self) -> str:
        return f"RandomCropFlip(padding={self.padding}, flip={self.flip})"


def standard_transforms(
    train_images,
    *,
    augment: bool = True,
    normalization: str | None = "pixel",
    size: int = 32,
    padding: int = 4,
) -> tuple[Compose, Compose]:
    """The paper's training and test transforms, with statistics of the training images.

    Arguments:
        train_images: uint8 (N, C, H, W), the images the model trains on (after the
            validation split: the statistics must not see validation or test images), or a
            ``Dataset``.
        augment: add ``RandomCropFlip(padding)`` to the training transform.
        normalization: "pixel" (subtract the per-pixel mean image, the paper's), "channel"
            (per-channel mean and std), or None.
        size: images smaller than this are zero-padded to it first (Fashion-MNIST 28 -> 32).
        padding: pixels padded before the random crop.

    Returns:
        ``(train_transform, test_transform)``; both map uint8 (N, C, H, W) to float32
        (N, C, size, size); only the first is random.
    """
    images = getattr(train_images, "images", train_images)
    if images.shape[-1] < size or images.shape[-2] < size:
        images = pad_to(np.asarray(images), size)  # statistics of what the model sees
    steps: list[Transform] = [ToFloat(), PadTo(size)]
    if normalization == "pixel":
        steps.append(SubtractMean(mean_image(images)))
    elif normalization == "channel":
        steps.append(Normalize(*channel_stats(images)))
    elif normalization is not None:
        raise ValueError(f"normalization must be 'pixel', 'channel' or None, got {normalization!r}")
    test = Compose(steps)
    train = Compose(steps + [RandomCropFlip(padding)] if augment else steps)
    return train, test
