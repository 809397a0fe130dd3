"""The Dataset record, the paper's validation split, and subsets for quick runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learnres.data import Dataset, split_validation, subset


def make(n: int = 100, classes: int = 10, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1)  # (N, 1, 1, 1): image i holds i
    labels = rng.integers(0, classes, size=n)
    return Dataset(images, labels, tuple(f"c{k}" for k in range(classes)), "toy", "train")


def ids(ds: Dataset) -> np.ndarray:
    return ds.images.reshape(-1).astype(np.int64)  # (N, 1, 1, 1) -> (N,): the image numbers


def test_dataset_checks_its_arrays():
    with pytest.raises(ValueError, match=r"expected labels of shape \(3,\)"):
        Dataset(np.zeros((3, 1, 2, 2), np.uint8), np.zeros(4), ("a",), "x")
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\)"):
        Dataset(np.zeros((2, 1, 2, 2), np.uint8), np.array([0, 2]), ("a", "b"), "x")
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Dataset(np.zeros((2, 4), np.uint8), np.array([0, 1]), ("a", "b"), "x")
    ds = make(10)
    assert len(ds) == 10 and ds.labels.dtype == np.int64 and ds.image_shape == (1, 1, 1)
    assert "10 images of (1, 1, 1), 10 classes" in repr(ds)


def test_split_is_a_partition_in_file_order():
    ds = make(100)
    train, val = split_validation(ds, 10, seed=3)
    assert len(train) == 90 and len(val) == 10
    assert train.split == "train" and val.split == "val"
    assert sorted(np.concatenate([ids(train), ids(val)]).tolist()) == list(range(100))
    assert (np.diff(ids(train)) > 0).all() and (np.diff(ids(val)) > 0).all()
    assert np.array_equal(train.labels, ds.labels[ids(train)])


def test_split_is_deterministic_by_seed():
    ds = make(100)
    a, b, c = (split_validation(ds, 10, seed=s)[1] for s in (0, 0, 1))
    assert np.array_equal(ids(a), ids(b)) and not np.array_equal(ids(a), ids(c))


def test_paper_split_on_the_full_size_and_a_fraction_on_the_subset():
    """Section 4.2's 45k/5k split: size=5000 of 50,000; 0.1 of the 5,085-image subset is 508."""
    full = Dataset(np.zeros((50000, 1, 1, 1), np.uint8), np.zeros(50000, np.int64), ("a",), "x")
    for size in (5000, 0.1):
        train, val = split_validation(full, size)
        assert (len(train), len(val)) == (45000, 5000)
    assert len(split_validation(make(5085))[1]) == 508  # the default is the fraction 0.1


def test_split_size_errors():
    ds = make(100)
    with pytest.raises(ValueError, match=r"1\.\.99 for 100 images, got 100"):
        split_validation(ds, 100)
    with pytest.raises(ValueError, match="fraction"):
        split_validation(ds, 1.5)
    with pytest.raises(ValueError, match=r"got 0.001 \(0 images\)"):
        split_validation(ds, 0.001)


def test_stratified_split_keeps_proportions():
    labels = np.repeat(np.arange(4), [400, 300, 200, 100])
    ds = Dataset(np.zeros((1000, 1, 1, 1), np.uint8), labels, tuple("abcd"), "x")
    _, val = split_validation(ds, 100, stratified=True)
    assert val.class_counts().tolist() == [40, 30, 20, 10]


def test_subset_is_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 50)
    ds = Dataset(
        np.arange(500, dtype=np.int64).reshape(500, 1, 1, 1) % 256, labels, tuple("abcdefghij"), "x"
    )
    small = subset(ds, 100, seed=0)
    assert small.class_counts().tolist() == [10] * 10
    assert np.array_equal(subset(ds, 100, seed=0).labels, small.labels)
    assert len(subset(ds, 0.5)) == 250 and len(subset(ds, 500)) == 500
    with pytest.raises(ValueError, match=r"1\.\.500 for 500 images, got 501"):
        subset(ds, 501)


@settings(max_examples=30, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
)
def test_stratified_subset_gives_every_class_its_share(counts, fraction, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    total = len(labels)
    ds = Dataset(np.zeros((total, 1, 1, 1), np.uint8), labels, tuple(map(str, counts)), "x")
    n = max(1, int(fraction * total))
    got = subset(ds, n, seed=seed).class_counts()
    assert got.sum() == n
    assert (np.abs(got - n * np.array(counts) / total) < 1).all()
