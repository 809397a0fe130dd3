"""``load_dataset``: one entry point that finds, downloads if needed, and reads a dataset."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from learnres.data import sources
from learnres.data.cifar import (
    CIFAR10_ARCHIVE,
    CIFAR10_FOLDER,
    CIFAR100_ARCHIVE,
    CIFAR100_FOLDER,
    locate_cifar,
    read_cifar10,
    read_cifar100,
)
from learnres.data.dataset import Dataset
from learnres.data.fashion_mnist import (
    FASHION_MNIST_FILES,
    locate_fashion_mnist,
    read_fashion_mnist,
)
from learnres.data.sources import REMOTES, DatasetNotFoundError, not_found_message, search_dirs

__all__ = ["DATASET_NAMES", "load_dataset"]

DATASET_NAMES = ("cifar10", "cifar100", "fashion-mnist")
_ALIASES = {
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
}


def _canonical(name: str) -> str:
    key = name.lower()
    key = _ALIASES.get(key, key)
    if key not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASET_NAMES)}")
    return key


def _locate(name: str, dirs: list[Path], split: str) -> Path | None:
    if name == "cifar10":
        return locate_cifar(dirs, CIFAR10_FOLDER, CIFAR10_ARCHIVE, "batches.meta")
    if name == "cifar100":
        return locate_cifar(dirs, CIFAR100_FOLDER, CIFAR100_ARCHIVE, "meta")
    return locate_fashion_mnist(dirs, split)


def _needed_files(name: str, split: str) -> list[str]:
    if name == "fashion-mnist":
        return list(FASHION_MNIST_FILES[split])
    return list(REMOTES[name].files)


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | Path | None = None,
    download: bool = True,
    *,
    label_mode: str = "fine",
    cache_dir: str | Path | None = None,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    progressbar: bool = True,
) -> Dataset:
    """Find (or download) and read one split of a dataset.

    Looks in ``data_dir`` (else $LEARNRES_DATA_DIR), then in the download cache
    (``cache_dir``, else $LEARNRES_CACHE_DIR, else pooch's cache folder for "learnres"); a
    folder may hold the archives or the extracted folders. When none has the dataset and
    ``download`` is true, downloads the official files with pooch into the cache, checking
    their MD5. See ``learnres.data.sources`` for the details.

    Arguments:
        name: "cifar10", "cifar100" or "fashion-mnist".
        split: "train" or "test". (The validation set is cut from "train" with
            ``split_validation``.)
        data_dir: a folder holding the data (read only, never written).
        download: download what is missing; False raises ``DatasetNotFoundError`` instead.
        label_mode: CIFAR-100 only: "fine" (100 classes) or "coarse" (20).
        cache_dir: where downloads go.
        base_url: download from this URL instead of the official one (a mirror; tests).
        checksums: file name -> "md5:<hex>" replacing the official digests (tests, mirrors).
        progressbar: show download progress.

    Returns:
        ``Dataset``: images uint8 (N, C, H, W) as stored, labels int64 (N,), class names.

    Raises:
        ValueError: unknown name (the message lists the known ones) or split.
        DatasetNotFoundError: not found and not downloadable; the message gives the URLs, the
            file names and the folders to put them in.
        ChecksumError: a download arrived with another digest (and was deleted).
        DatasetFormatError: a file is there but truncated or corrupt.
    """
    key = _canonical(name)
    if split not in ("train", "test"):
        raise ValueError(
            f"split must be 'train' or 'test', got {split!r} (cut a validation set from "
            f"'train' with learnres.data.split_validation)"
        )
    if key != "cifar100" and label_mode != "fine":
        raise ValueError(f"label_mode is for cifar100 only, got label_mode={label_mode!r}")
    dirs = search_dirs(data_dir, cache_dir)
    source = _locate(key, dirs, split)
    if source is None:
        remote, names = REMOTES[key], _needed_files(key, split)
        if not download:
            raise DatasetNotFoundError(
                not_found_message(
                    remote, names, dirs, "downloading is off (download=False)", base_url
                )
            )
        sources.download(
            remote,
            names,
            dirs,
            cache=cache_dir,
            base_url=base_url,
            checksums=checksums,
            progressbar=progressbar,
        )
        source = _locate(key, [sources.cache_dir(cache_dir)], split)
    if key == "cifar10":
        return read_cifar10(source, split)
    if key == "cifar100":
        return read_cifar100(source, split, label_mode)
    return read_fashion_mnist(source, split)
