"""Fashion-MNIST: the IDX parser, broken files, and the real files in ../shared/datasets."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from learnres.data import DatasetFormatError, load_dataset
from learnres.data.fashion_mnist import FASHION_MNIST_CLASSES, read_fashion_mnist, read_idx
from tests.data.official_format import idx


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("compress", [True, False])
def test_idx_round_trip(tmp_path, dtype, compress):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / "x.idx"
    path.write_bytes(idx(array, compress=compress))
    back = read_idx(path)
    assert back.shape == (2, 3, 4) and back.dtype.isnative and np.array_equal(back, array)
    back[0, 0, 0] = 1  # a writable copy


def test_truncated_gzip(tmp_path):
    data = idx(np.zeros((10, 28, 28), np.uint8))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(data[: len(data) - 20])
    with pytest.raises(DatasetFormatError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_truncated_payload(tmp_path):
    raw = idx(np.zeros((10, 28, 28), np.uint8), compress=False)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw[:-100]))  # a valid gzip of a short IDX
    with pytest.raises(DatasetFormatError, match=r"shape \(10, 28, 28\).*7,856 bytes.*truncated"):
        read_idx(path)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "not an IDX file"),
        (b"PK\x03\x04rest", "not an IDX file"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01x", "unknown IDX element type 0x07"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
    ],
)
def test_not_idx(tmp_path, raw, message):
    path = tmp_path / "f"
    path.write_bytes(raw)
    with pytest.raises(DatasetFormatError, match=message):
        read_idx(path)


def test_label_count_must_match(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(idx(np.zeros((5, 28, 28), np.uint8)))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(idx(np.zeros(4, np.uint8)))
    with pytest.raises(DatasetFormatError, match="expected 5 labels"):
        read_fashion_mnist(tmp_path, "test")


def test_built_files_and_uncompressed_twins(tmp_path, fashion_official):
    files, arrays = fashion_official
    for name, data in files.items():
        if name.startswith("train"):
            (tmp_path / name).write_bytes(data)
        else:  # the test files uncompressed, as torchvision leaves them
            (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    for split in ("train", "test"):
        ds = load_dataset("fashion-mnist", split, data_dir=tmp_path, download=False)
        images, labels = arrays[split]
        assert ds.images.shape == (len(labels), 1, 28, 28)
        assert np.array_equal(ds.images[:, 0], images) and np.array_equal(ds.labels, labels)


def test_real_fashion_mnist(shared_datasets):
    train = load_dataset("fashion-mnist", "train", data_dir=shared_datasets, download=False)
    test = load_dataset("fashion-mnist", "test", data_dir=shared_datasets, download=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert train.class_counts().tolist() == [6000] * 10
    assert test.class_counts().tolist() == [1000] * 10
    assert train.classes == FASHION_MNIST_CLASSES and train.classes[9] == "Ankle boot"


@pytest.mark.parametrize("size", [(30, 30), (28, 20)])
def test_images_of_another_size_are_refused(tmp_path, size):
    """Issue 15, item 11: Fashion-MNIST images are 28x28; a file of another size (with a
    consistent header) was read on main and failed much later, inside training."""
    images = np.zeros((4, *size), np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(idx(images))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(idx(np.zeros(4, np.uint8)))
    with pytest.raises(DatasetFormatError, match=r"expected uint8 images \(N, 28, 28\)"):
        read_fashion_mnist(tmp_path, "train")


def test_a_gzip_unpacking_to_more_than_fashion_mnist_is_refused(tmp_path, monkeypatch):
    from learnres.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "MAX_IDX_BYTES", 1000)
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(bytes(5000)))
    with pytest.raises(DatasetFormatError, match="unpacks to more than 1,000 bytes"):
        read_idx(path)
