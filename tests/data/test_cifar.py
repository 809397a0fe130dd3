"""CIFAR-10/100 readers: the real subset, and archives and folders built in the official format."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from learnres.data import DatasetFormatError, RefusedGlobalError, load_dataset
from learnres.data.cifar import read_cifar10, read_cifar100
from learnres.data.safe_pickle import safe_load
from tests.data.official_format import CIFAR10_NAMES, py3_pickle, tar_gz

# -- the real subset in ../shared/datasets (1,017 images per batch) -------------------------


def test_real_subset_counts_what_it_finds(shared_datasets):
    train = read_cifar10(shared_datasets / "cifar-10-batches-py", "train")
    test = read_cifar10(shared_datasets / "cifar-10-batches-py", "test")
    assert len(train) == 5 * 1017 and len(test) == 1017
    assert train.images.shape == (5085, 3, 32, 32) and train.images.dtype == np.uint8
    assert train.labels.dtype == np.int64 and test.labels.shape == (1017,)
    assert train.classes == tuple(CIFAR10_NAMES)


def test_real_subset_first_labels(shared_datasets):
    train = load_dataset("cifar10", "train", data_dir=shared_datasets, download=False)
    test = load_dataset("cifar10", "test", data_dir=shared_datasets, download=False)
    assert train.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


def test_real_subset_batches_follow_each_other(shared_datasets):
    """Image 1017 is the first of data_batch_2: the batches are concatenated in order."""
    folder = shared_datasets / "cifar-10-batches-py"
    train = read_cifar10(folder, "train")
    batch2 = safe_load(folder / "data_batch_2")
    first = np.asarray(batch2[b"data"][0]).reshape(3, 32, 32)  # (3072,) -> (C, H, W)
    assert np.array_equal(train.images[1017], first)


# -- built files: folder and archive --------------------------------------------------------


def _write_folder(root, folder, files):
    (root / folder).mkdir(parents=True)
    for name, data in files.items():
        (root / folder / name).write_bytes(data)
    return root / folder


@pytest.mark.parametrize("split", ["train", "test"])
def test_folder_and_archive_give_the_files_arrays(tmp_path, cifar10_official, split):
    files, arrays = cifar10_official
    folder = _write_folder(tmp_path, "cifar-10-batches-py", files)
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(tar_gz(files, "cifar-10-batches-py"))
    for source in (folder, archive):
        ds = read_cifar10(source, split)
        assert np.array_equal(ds.images, arrays[split][0])
        assert np.array_equal(ds.labels, arrays[split][1])
        assert ds.classes == tuple(CIFAR10_NAMES) and ds.split == split


def test_rows_are_red_green_blue_planes(tmp_path, cifar10_official):
    """One row of b"data" is 1024 red, 1024 green, 1024 blue bytes; image[c] is plane c."""
    files, _ = cifar10_official
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.arange(1024) % 256])
    data = np.tile(row.astype(np.uint8), (2, 1))  # (2, 3072)
    files = {**files, "test_batch": py3_pickle({b"data": data, b"labels": [0, 1]})}
    ds = read_cifar10(_write_folder(tmp_path, "c", files), "test")
    assert (ds.images[:, 0] == 10).all() and (ds.images[:, 1] == 20).all()
    assert ds.images[0, 2, 1, 0] == 32  # blue plane, row 1, column 0: byte 32 of the plane


def test_cifar100_fine_and_coarse(tmp_path, cifar100_official):
    files, arrays = cifar100_official
    archive = tmp_path / "cifar-100-python.tar.gz"
    archive.write_bytes(tar_gz(files, "cifar-100-python"))
    fine = read_cifar100(archive, "train")
    coarse = read_cifar100(archive, "test", label_mode="coarse")
    assert np.array_equal(fine.images, arrays["train"][0])
    assert np.array_equal(fine.labels, arrays["train"][1]) and fine.num_classes == 100
    assert np.array_equal(coarse.labels, arrays["test"][2]) and coarse.num_classes == 20
    assert fine.classes[3] == "fine3" and coarse.classes[0] == "coarse0"
    with pytest.raises(ValueError, match="label_mode"):
        read_cifar100(archive, "train", label_mode="medium")


def test_data_dir_may_hold_the_archive(tmp_path, cifar10_official):
    files, arrays = cifar10_official
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(tar_gz(files, "cifar-10-batches-py"))
    before = sorted(os.listdir(tmp_path))
    ds = load_dataset("cifar10", "train", data_dir=tmp_path, download=False)
    assert np.array_equal(ds.labels, arrays["train"][1])
    assert sorted(os.listdir(tmp_path)) == before  # read in place, nothing extracted


def test_data_dir_may_be_the_extracted_folder_itself(tmp_path, cifar10_official):
    files, arrays = cifar10_official
    folder = _write_folder(tmp_path, "somewhere", files)
    ds = load_dataset("cifar10", "test", data_dir=folder, download=False)
    assert np.array_equal(ds.images, arrays["test"][0])


# -- broken files ---------------------------------------------------------------------------


def test_missing_batch_is_named(tmp_path, cifar10_official):
    files, _ = cifar10_official
    files = {k: v for k, v in files.items() if k != "data_batch_3"}
    with pytest.raises(DatasetFormatError, match="missing data_batch_3"):
        read_cifar10(_write_folder(tmp_path, "c", files), "train")


def test_truncated_archive(tmp_path, cifar10_official):
    files, _ = cifar10_official
    data = tar_gz(files, "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match="cifar-10-python.tar.gz"):
        read_cifar10(archive, "train")


def test_wrong_data_shape(tmp_path, cifar10_official):
    files, _ = cifar10_official
    bad = py3_pickle({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DatasetFormatError, match=r"uint8 of shape \(n, 3072\)"):
        read_cifar10(_write_folder(tmp_path, "c", {**files, "test_batch": bad}), "test")


def test_labels_that_do_not_match_the_images(tmp_path, cifar10_official):
    files, _ = cifar10_official
    bad = py3_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]})
    with pytest.raises(DatasetFormatError, match="expected 2 integer 'labels'"):
        read_cifar10(_write_folder(tmp_path, "c", {**files, "test_batch": bad}), "test")


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def test_a_malicious_batch_in_an_archive_runs_nothing(tmp_path, cifar10_official):
    files, _ = cifar10_official
    marker = tmp_path / "pwned"
    evil = pickle.dumps({b"data": _Evil(marker), b"labels": []}, protocol=2)
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(tar_gz({**files, "test_batch": evil}, "cifar-10-batches-py"))
    with pytest.raises(RefusedGlobalError, match="system"):
        read_cifar10(archive, "test")
    assert not marker.exists()
