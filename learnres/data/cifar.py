"""CIFAR-10 and CIFAR-100 from the official "python version" files.

The paper's CIFAR experiments (section 4.2) use CIFAR-10: 32x32 colour images in 10 classes,
50,000 for training in five batches ``data_batch_1..5`` and 10,000 in ``test_batch``. CIFAR-100
has the same images format with 100 "fine" classes grouped into 20 "coarse" ones, in two files
``train`` and ``test``. Each file is a pickled dict (read with ``safe_pickle``, which refuses
anything but arrays and plain values):

    b"data"    uint8 (n, 3072): per image 1024 red, then 1024 green, then 1024 blue bytes,
               each plane row-major 32x32; so ``data.reshape(n, 3, 32, 32)`` is NCHW
    b"labels"  n ints in 0..9 (CIFAR-10); CIFAR-100: b"fine_labels", b"coarse_labels"

The readers take the extracted folder (``cifar-10-batches-py/``, ``cifar-100-python/``) or
the ``.tar.gz`` archive, which is read in one pass without extracting anything. They count
the images they find: the subset in ``shared/datasets`` has 1,017 per batch.
"""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from learnres.data.dataset import Dataset, DatasetFormatError
from learnres.data.safe_pickle import RefusedGlobalError, safe_loads

__all__ = [
    "CIFAR10_FOLDER",
    "CIFAR10_ARCHIVE",
    "CIFAR100_FOLDER",
    "CIFAR100_ARCHIVE",
    "read_cifar10",
    "read_cifar100",
    "locate_cifar",
]

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_ARCHIVE = "cifar-100-python.tar.gz"

_CIFAR10_FILES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
}
_CIFAR100_FILES = {"train": ["train"], "test": ["test"]}
_IMAGE_BYTES = 3 * 32 * 32


def locate_cifar(dirs: list[Path], folder: str, archive: str, marker: str) -> Path | None:
    """The first CIFAR source in ``dirs``: an extracted folder or an archive, else None.

    In each folder ``d`` it tries ``d/<folder>/``, ``d`` itself (when it holds ``marker``,
    e.g. ``batches.meta``), then ``d/<archive>``.
    """
    for d in dirs:
        for candidate in (d / folder, d):
            if (candidate / marker).is_file():
                return candidate
        if (d / archive).is_file():
            return d / archive
    return None


def _read_files(source: Path, names: list[str]) -> dict[str, bytes]:
    """The bytes of the files ``names`` from a folder or from a .tar.gz (one pass over it)."""
    if source.is_dir():
        missing = [n for n in names if not (source / n).is_file()]
        if missing:
            raise DatasetFormatError(
                f"{source} is missing {', '.join(missing)} (expected {', '.join(names)}); "
                f"was the archive extracted completely?"
            )
        return {n: (source / n).read_bytes() for n in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(source, "r:gz") as tar:
            for member in tar:  # in archive order: reads the gzip stream once
                name = PurePosixPath(member.name).name
                if name in names and name not in found and member.isfile():
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DatasetFormatError(
            f"{source} is not a readable .tar.gz ({type(e).__name__}: {e}); delete it and "
            f"download it again"
        ) from e
    missing = [n for n in names if n not in found]
    if missing:
        raise DatasetFormatError(
            f"{source} has no member named {', '.join(missing)}; is it the CIFAR 'python "
            f"version' archive?"
        )
    return found


def _unpickle_dict(data: bytes, source: str) -> dict[str, Any]:
    """Unpickle a CIFAR file into a dict with str keys (they are bytes in the pickle)."""
    try:
        obj = safe_loads(data, source)
    except RefusedGlobalError:
        raise  # a security refusal stays one, not a "format error"
    except Exception as e:  # truncated or garbled pickles raise many kinds of errors
        raise DatasetFormatError(
            f"{source}: not a readable pickle ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(obj, dict):
        raise DatasetFormatError(f"{source}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _names(values, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(values, (list, tuple)):
        raise DatasetFormatError(f"{source}: {key!r} should be a list of names")
    return tuple(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values)


def _batch(entry: dict[str, Any], source: str, label_key: str, num_classes: int):
    """Images uint8 (n, 3, 32, 32) and labels int64 (n,) of one pickled batch."""
    for key in ("data", label_key):
        if key not in entry:
            raise DatasetFormatError(
                f"{source}: no {key!r} entry (found {', '.join(sorted(entry))})"
            )
    data = entry["data"]
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == _IMAGE_BYTES
    ):
        shape = getattr(data, "shape", None)
        raise DatasetFormatError(
            f"{source}: expected 'data' uint8 of shape (n, {_IMAGE_BYTES}), got "
            f"{type(data).__name__} {getattr(data, 'dtype', '')} {shape}"
        )
    n = data.shape[0]
    labels = np.asarray(entry[label_key])
    if n == 0 and labels.shape == (0,):  # an empty batch: np.asarray([]) is float64
        labels = labels.astype(np.int64)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise DatasetFormatError(
            f"{source}: expected {n} integer {label_key!r} for {n} images, got {labels.dtype} "
            f"{labels.shape}"
        )
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetFormatError(
            f"{source}: {label_key!r} must lie in [0, {num_classes}), "
            f"got [{labels.min()}, {labels.max()}]"
        )
    images = data.reshape(n, 3, 32, 32)  # (n, 3072) -> (n, C, H, W): R, G, B planes, row-major
    return images, labels.astype(np.int64)


def _read(source: Path, kind: str, split: str, label_mode: str = "fine") -> Dataset:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if kind == "cifar10":
        files, meta = _CIFAR10_FILES[split], "batches.meta"
        label_key, names_key = "labels", "label_names"
    else:
        if label_mode not in ("fine", "coarse"):
            raise ValueError(f"label_mode must be 'fine' or 'coarse', got {label_mode!r}")
        files, meta = _CIFAR100_FILES[split], "meta"
        label_key, names_key = f"{label_mode}_labels", f"{label_mode}_label_names"
    source = Path(source)
    raw = _read_files(source, [meta, *files])
    meta_dict = _unpickle_dict(raw[meta], f"{source}/{meta}")
    if names_key not in meta_dict:
        raise DatasetFormatError(f"{source}/{meta}: no {names_key!r} entry")
    classes = _names(meta_dict[names_key], f"{source}/{meta}", names_key)
    parts = [
        _batch(_unpickle_dict(raw[f], f"{source}/{f}"), f"{source}/{f}", label_key, len(classes))
        for f in files
    ]
    images = np.concatenate([p[0] for p in parts])  # (sum of n, 3, 32, 32)
    labels = np.concatenate([p[1] for p in parts])
    return Dataset(images, labels, classes, kind, split)


def read_cifar10(source: str | Path, split: str = "train") -> Dataset:
    """CIFAR-10 from ``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``.

    Arguments:
        source: the extracted folder or the archive.
        split: "train" (``data_batch_1..5``, concatenated in order) or "test" (``test_batch``).

    Returns:
        ``Dataset`` with images uint8 (N, 3, 32, 32), labels int64 (N,), the 10 class names
        of ``batches.meta`` (airplane, automobile, ..., truck). N is what the files hold:
        50,000 / 10,000 for the official files.
    """
    return _read(Path(source), "cifar10", split)


def read_cifar100(source: str | Path, split: str = "train", label_mode: str = "fine") -> Dataset:
    """CIFAR-100 from ``cifar-100-python/`` or ``cifar-100-python.tar.gz``.

    Arguments:
        source: the extracted folder or the archive.
        split: "train" or "test".
        label_mode: "fine" (100 classes, the usual benchmark) or "coarse" (20 superclasses).

    Returns:
        ``Dataset`` with images uint8 (N, 3, 32, 32), labels int64 (N,), class names from
        ``meta`` (``fine_label_names`` or ``coarse_label_names``).
    """
    return _read(Path(source), "cifar100", split, label_mode)
