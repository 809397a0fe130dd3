"""Finding and downloading: a real HTTP server on 127.0.0.1 serves archives built here."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from learnres.data import (
    REMOTES,
    ChecksumError,
    DatasetNotFoundError,
    load_dataset,
)
from learnres.data.sources import cache_dir, search_dirs
from tests.data.conftest import md5
from tests.data.official_format import tar_gz


def _files_under(folder) -> list[str]:
    """Every file below ``folder`` (temporary download files included), relative paths."""
    if not folder.exists():
        return []
    return sorted(
        os.path.relpath(os.path.join(root, f), folder)
        for root, _, files in os.walk(folder)
        for f in files
    )


def _serve_cifar10(folder, cifar10_official) -> dict[str, str]:
    files, _ = cifar10_official
    archive = tar_gz(files, "cifar-10-batches-py")
    (folder / "cifar-10-python.tar.gz").write_bytes(archive)
    return {"cifar-10-python.tar.gz": md5(archive)}


def test_official_urls_and_checksums():
    assert REMOTES["cifar10"].url("cifar-10-python.tar.gz") == (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    )
    assert REMOTES["cifar10"].files["cifar-10-python.tar.gz"] == (
        "md5:c58f30108f718f92721af3b95e74349a"
    )
    assert REMOTES["cifar100"].files["cifar-100-python.tar.gz"] == (
        "md5:eb9058c3a382ffc7106e4002c42a8d85"
    )
    assert REMOTES["fashion-mnist"].files["train-images-idx3-ubyte.gz"] == (
        "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    )
    assert len(REMOTES["fashion-mnist"].files) == 4


def test_download_cifar10_into_the_cache(file_server, isolated_env, cifar10_official):
    base_url, served = file_server
    checksums = _serve_cifar10(served, cifar10_official)
    _, arrays = cifar10_official
    train = load_dataset(
        "cifar10", "train", base_url=base_url, checksums=checksums, progressbar=False
    )
    assert np.array_equal(train.images, arrays["train"][0])
    assert np.array_equal(train.labels, arrays["train"][1])
    assert _files_under(isolated_env) == ["cifar-10-python.tar.gz"]
    # the second time it comes from the cache: the server is not asked again
    (served / "cifar-10-python.tar.gz").unlink()
    test = load_dataset("cifar10", "test", base_url=base_url, checksums=checksums)
    assert np.array_equal(test.labels, arrays["test"][1])


def test_download_cifar100(file_server, isolated_env, cifar100_official):
    base_url, served = file_server
    files, arrays = cifar100_official
    archive = tar_gz(files, "cifar-100-python")
    (served / "cifar-100-python.tar.gz").write_bytes(archive)
    checksums = {"cifar-100-python.tar.gz": md5(archive)}
    ds = load_dataset(
        "cifar100",
        "test",
        label_mode="coarse",
        base_url=base_url,
        checksums=checksums,
        progressbar=False,
    )
    assert np.array_equal(ds.images, arrays["test"][0])
    assert np.array_equal(ds.labels, arrays["test"][2]) and ds.num_classes == 20


def test_download_fashion_mnist_from_the_url_in_the_environment(
    file_server, isolated_env, fashion_official, monkeypatch
):
    base_url, served = file_server
    files, arrays = fashion_official
    for name, data in files.items():
        (served / name).write_bytes(data)
    monkeypatch.setenv("LEARNRES_DATA_URL", base_url)
    checksums = {name: md5(data) for name, data in files.items()}
    test = load_dataset("fashion-mnist", "test", checksums=checksums, progressbar=False)
    assert _files_under(isolated_env) == [  # only the test split's two files
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
    ]
    train = load_dataset("fashion-mnist", "train", checksums=checksums, progressbar=False)
    assert np.array_equal(test.images[:, 0], arrays["test"][0])
    assert np.array_equal(train.labels, arrays["train"][1])


def test_checksum_mismatch_deletes_the_download(file_server, isolated_env, cifar10_official):
    base_url, served = file_server
    _serve_cifar10(served, cifar10_official)
    actual = hashlib.md5((served / "cifar-10-python.tar.gz").read_bytes()).hexdigest()
    wrong = "md5:" + "0" * 32
    with pytest.raises(ChecksumError) as info:
        load_dataset(
            "cifar10",
            base_url=base_url,
            checksums={"cifar-10-python.tar.gz": wrong},
            progressbar=False,
        )
    message = str(info.value)
    assert wrong in message and actual in message and base_url in message
    assert info.value.expected == wrong and info.value.actual == f"md5:{actual}"
    assert _files_under(isolated_env) == []  # neither the file nor a temporary is kept
    with pytest.raises(DatasetNotFoundError):  # and nothing is used later
        load_dataset("cifar10", download=False)


def test_the_official_checksum_rejects_another_file(file_server, isolated_env, cifar10_official):
    base_url, served = file_server
    _serve_cifar10(served, cifar10_official)
    with pytest.raises(ChecksumError, match="c58f30108f718f92721af3b95e74349a"):
        load_dataset("cifar10", base_url=base_url, progressbar=False)
    assert _files_under(isolated_env) == []


def test_no_network_gives_the_urls_files_and_folders(tmp_path, closed_port_url, isolated_env):
    data_dir = tmp_path / "my-data"
    data_dir.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("cifar10", data_dir=data_dir, base_url=closed_port_url, progressbar=False)
    message = str(info.value)
    assert f"{closed_port_url}cifar-10-python.tar.gz" in message
    assert "cifar-10-python.tar.gz" in message and "cifar-10-batches-py/" in message
    assert str(data_dir) in message and str(isolated_env) in message
    assert "LEARNRES_DATA_DIR" in message and "--data-dir" in message
    assert "ConnectionError" in message
    assert _files_under(isolated_env) == []


def test_no_network_fashion_lists_every_file(closed_port_url, isolated_env):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("fashion-mnist", "train", base_url=closed_port_url, progressbar=False)
    message = str(info.value)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        assert closed_port_url + name in message
    assert "md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d" in message


def test_missing_file_on_the_server(file_server, isolated_env):
    base_url, _ = file_server
    with pytest.raises(DatasetNotFoundError, match="404"):
        load_dataset("cifar100", base_url=base_url, progressbar=False)
    assert _files_under(isolated_env) == []


def test_download_false_names_the_official_url(isolated_env):
    with pytest.raises(DatasetNotFoundError, match="download=False") as info:
        load_dataset("cifar10", download=False)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in str(info.value)


def test_data_dir_from_the_environment(tmp_path, monkeypatch, cifar10_official):
    files, arrays = cifar10_official
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(tar_gz(files, "cifar-10-batches-py"))
    monkeypatch.setenv("LEARNRES_DATA_DIR", str(tmp_path))
    ds = load_dataset("cifar10", "test", download=False)
    assert np.array_equal(ds.labels, arrays["test"][1])


def test_search_order(tmp_path, monkeypatch, isolated_env):
    assert cache_dir() == isolated_env
    assert search_dirs() == [isolated_env]
    monkeypatch.setenv("LEARNRES_DATA_DIR", str(tmp_path / "env"))
    assert search_dirs() == [tmp_path / "env", isolated_env]
    assert search_dirs(tmp_path / "arg", tmp_path / "c") == [tmp_path / "arg", tmp_path / "c"]


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="cifar10, cifar100, fashion-mnist"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_dataset("cifar10", "val")
