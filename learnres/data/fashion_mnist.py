"""Fashion-MNIST from its four IDX files (Xiao, Rasul, Vollgraf 2017; MIT licence, Zalando SE).

70,000 grayscale 28x28 images of clothing in 10 classes, split 60,000 / 10,000 like MNIST.
The files use the IDX format of MNIST, big-endian:

    bytes 0-1   0x00 0x00
    byte  2     element type (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                0x0E float64)
    byte  3     number of dimensions d
    then        d sizes, each a big-endian uint32
    then        the elements, row-major

Images are ``idx3`` (N, 28, 28) uint8, labels ``idx1`` (N,) uint8. The files may be gzipped
(the official ``*.gz``) or not; ``read_idx`` checks the header against the file's length.
Images come back as (N, 1, 28, 28), one channel, so NCHW models take them;
``transforms.PadTo(32)`` makes them 32x32 for the CIFAR models.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from learnres.data.dataset import Dataset, DatasetFormatError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "read_idx",
    "read_fashion_mnist",
    "locate_fashion_mnist",
]

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# split -> (images file, labels file), the official names
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

IMAGE_SIZE = (28, 28)  # every Fashion-MNIST image, as MNIST's
MAX_IDX_BYTES = 2**30  # the largest file, the training images, is 47 MB unpacked

_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_maybe_gzipped(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # not gzip: an already uncompressed IDX file
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            data = f.read(MAX_IDX_BYTES + 1)  # a bounded read: a gzip bomb stops here
    except (EOFError, OSError, zlib.error) as e:  # truncated stream, bad CRC, garbage
        raise DatasetFormatError(
            f"{path}: corrupt or truncated gzip file ({type(e).__name__}: {e}); delete it and "
            f"download it again"
        ) from e
    if len(data) > MAX_IDX_BYTES:
        raise DatasetFormatError(
            f"{path}: unpacks to more than {MAX_IDX_BYTES:,} bytes, far more than Fashion-MNIST"
        )
    return data


def read_idx(path: str | Path) -> np.ndarray:
    """The array in an IDX file (gzipped or not), in native byte order.

    Raises:
        DatasetFormatError: not an IDX file, unknown element type, or a length that differs
            from what the header promises (a truncated file).
    """
    path = Path(path)
    raw = _read_maybe_gzipped(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetFormatError(
            f"{path}: not an IDX file: expected the magic 00 00 <type> <dims>, got "
            f"{raw[:4].hex(' ') or 'an empty file'}"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise DatasetFormatError(
            f"{path}: unknown IDX element type 0x{code:02X} (expected one of "
            f"{', '.join(f'0x{c:02X}' for c in _IDX_TYPES)})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_TYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize  # Python ints: no overflow
    if len(raw) != expected:
        raise DatasetFormatError(
            f"{path}: header says shape {dims} of {dtype.name} ({expected:,} bytes with the "
            f"header), but the file holds {len(raw):,} bytes"
            + (": truncated" if len(raw) < expected else "")
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _find(folder: Path, name: str) -> Path | None:
    """``folder/name``, or its uncompressed twin ``folder/name`` without ``.gz``."""
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def locate_fashion_mnist(dirs: list[Path], split: str) -> Path | None:
    """The first folder holding the split's two files: ``d/fashion-mnist/``, ``d``, or
    torchvision's ``d/FashionMNIST/raw/``, for each ``d`` in ``dirs``; else None."""
    for d in dirs:
        for folder in (d / "fashion-mnist", d, d / "FashionMNIST" / "raw"):
            if all(_find(folder, n) for n in FASHION_MNIST_FILES[split]):
                return folder
    return None


def read_fashion_mnist(folder: str | Path, split: str = "train") -> Dataset:
    """Fashion-MNIST from a folder holding the IDX files.

    Arguments:
        folder: holds ``train-images-idx3-ubyte.gz`` etc. (or the same names without .gz).
        split: "train" (60,000 images) or "test" (``t10k``, 10,000 images).

    Returns:
        ``Dataset`` with images uint8 (N, 1, 28, 28), labels int64 (N,) in 0..9.
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(folder)
    paths = []
    for name in FASHION_MNIST_FILES[split]:
        path = _find(folder, name)
        if path is None:
            raise FileNotFoundError(f"{folder} has no {name} (nor {name.removesuffix('.gz')})")
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.dtype != np.uint8 or images.shape[1:] != IMAGE_SIZE:
        raise DatasetFormatError(
            f"{paths[0]}: expected uint8 images (N, 28, 28) (Fashion-MNIST's format), got "
            f"{images.dtype} {images.shape}"
        )
    if labels.shape != images.shape[:1]:
        raise DatasetFormatError(
            f"{paths[1]}: expected {images.shape[0]} labels for the {images.shape[0]} images "
            f"of {paths[0].name}, got shape {labels.shape}"
        )
    n, h, w = images.shape
    images = images.reshape(n, 1, h, w)  # (N, H, W) -> (N, C=1, H, W)
    return Dataset(images, labels.astype(np.int64), FASHION_MNIST_CLASSES, "fashion-mnist", split)
