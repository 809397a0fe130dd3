"""Small datasets written in the official file formats, for tests that cannot download.

- ``py2_pickle``: a pickle as Python 2 wrote the official CIFAR batches: protocol 2, every
  str and bytes as a Python 2 ``str`` (``BINSTRING``), NumPy's ``_reconstruct`` under its
  NumPy 1 name ``numpy.core.multiarray``. ``py3_pickle``: protocol 2 from Python 3, bytes
  as ``_codecs.encode`` (as in the subset in ``shared/datasets``).
- ``cifar10_files`` / ``cifar100_files``: the files of the "python version" (dicts with bytes
  keys, ``b"data"`` uint8 (n, 3072), ``b"labels"`` or ``b"fine_labels"`` and
  ``b"coarse_labels"``, meta files with the label names), plus the arrays they hold.
- ``tar_gz``: an archive of such files inside a folder, like ``cifar-10-python.tar.gz``.
- ``idx``: an IDX file (MNIST's format) of an array.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from typing import ClassVar

import numpy as np

CIFAR10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table we extend
    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = _save_py2_str
    dispatch[bytes] = _save_py2_str


def py2_pickle(obj) -> bytes:
    """``obj`` pickled the way Python 2 + NumPy 1 wrote the official CIFAR files."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    data = buffer.getvalue()
    return data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def py3_pickle(obj) -> bytes:
    """``obj`` pickled by Python 3 with protocol 2 (bytes as ``_codecs.encode``)."""
    return pickle.dumps(obj, protocol=2)


def random_images(rng: np.random.Generator, n: int, shape=(3, 32, 32)) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def cifar10_files(n_per_batch: int = 20, n_test: int = 20, seed: int = 0, pickler=py2_pickle):
    """The seven files of ``cifar-10-batches-py/`` and the (images, labels) they hold.

    Returns ``files`` (name -> bytes) and ``arrays`` (split -> (images (N, 3, 32, 32), labels)).
    """
    rng = np.random.default_rng(seed)
    files, train = {}, []
    for i in range(1, 6):
        images = random_images(rng, n_per_batch)
        labels = rng.integers(0, 10, size=n_per_batch)
        files[f"data_batch_{i}"] = pickler(
            {
                b"batch_label": f"training batch {i} of 5".encode(),
                b"labels": [int(v) for v in labels],
                b"data": images.reshape(n_per_batch, 3072),  # (n, 3, 32, 32) -> (n, 3072)
                b"filenames": [f"img_{i}_{k}.png".encode() for k in range(n_per_batch)],
            }
        )
        train.append((images, labels))
    test_images, test_labels = random_images(rng, n_test), rng.integers(0, 10, size=n_test)
    files["test_batch"] = pickler(
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": [int(v) for v in test_labels],
            b"data": test_images.reshape(n_test, 3072),
        }
    )
    files["batches.meta"] = pickler(
        {
            b"num_cases_per_batch": n_per_batch,
            b"label_names": [n.encode() for n in CIFAR10_NAMES],
            b"num_vis": 3072,
        }
    )
    arrays = {
        "train": (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])),
        "test": (test_images, test_labels),
    }
    return files, arrays


def cifar100_files(n_train: int = 30, n_test: int = 20, seed: int = 1, pickler=py2_pickle):
    """The three files of ``cifar-100-python/`` and split -> (images, fine, coarse)."""
    rng = np.random.default_rng(seed)
    files, arrays = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = random_images(rng, n)
        fine = rng.integers(0, 100, size=n)
        coarse = fine // 5
        files[split] = pickler(
            {
                b"filenames": [f"{split}_{k}.png".encode() for k in range(n)],
                b"batch_label": f"{split} batch".encode(),
                b"fine_labels": [int(v) for v in fine],
                b"coarse_labels": [int(v) for v in coarse],
                b"data": images.reshape(n, 3072),  # (n, 3, 32, 32) -> (n, 3072)
            }
        )
        arrays[split] = (images, fine, coarse)
    files["meta"] = pickler(
        {
            b"fine_label_names": [f"fine{k}".encode() for k in range(100)],
            b"coarse_label_names": [f"coarse{k}".encode() for k in range(20)],
        }
    )
    return files, arrays


def tar_gz(files: dict[str, bytes], folder: str) -> bytes:
    """A .tar.gz holding ``folder/<name>`` for each file (and the folder entry)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        entry = tarfile.TarInfo(folder)
        entry.type, entry.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(entry)
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


_IDX_CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}


def idx(array: np.ndarray, compress: bool = True) -> bytes:
    """``array`` as an IDX file: 00 00 <type> <ndim>, big-endian uint32 sizes, big-endian data."""
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = _IDX_CODES[big.dtype]
    raw = (
        bytes([0, 0, code, array.ndim])
        + struct.pack(f">{array.ndim}I", *array.shape)
        + big.tobytes()
    )
    return gzip.compress(raw) if compress else raw


def fashion_files(n_train: int = 30, n_test: int = 20, seed: int = 2):
    """The four gzipped IDX files of Fashion-MNIST (name -> bytes) and split -> arrays."""
    rng = np.random.default_rng(seed)
    files, arrays = {}, {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        files[f"{prefix}-images-idx3-ubyte.gz"] = idx(images)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = idx(labels)
        arrays[split] = (images, labels)
    return files, arrays
