"""Checkpoints: a training run's whole state in one ``.npz`` file, safe to load and to write.

A checkpoint is a nested dict (model ``state_dict``, optimizer and schedule state, the data
loader's RNG state, the iteration, the metrics history, the run's configuration). Its
arrays become entries of the ``.npz`` archive, named by their path in the dict
(``model/conv1.weight``, ``optimizer/state/0/momentum_buffer``), so ``np.load`` shows them to
anyone curious; everything else (numbers, strings, lists, None) is one JSON string stored
under ``__meta__``, with each array replaced by ``{"__array__": "<entry name>"}``.

Two promises:

* **Loading runs no code.** ``np.load(..., allow_pickle=False)`` reads only plain arrays, and
  JSON holds only data (DESIGN.md, "Safe files").
* **An interruption never leaves a broken checkpoint.** ``save_checkpoint`` writes a temporary
  file in the same folder, flushes it to disk, then ``os.replace``s it onto the target: the
  rename is atomic, so the target is the old checkpoint or the new one, never half of one.

Anything wrong with a file (missing, truncated, not a checkpoint, another format version)
raises ``CheckpointError`` with the path and what was wrong.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from learnres.backend import asnumpy, get_array_module

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = "learnres-checkpoint"
FORMAT_VERSION = 1
_META = "__meta__"


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used: missing, corrupt, or written for another run."""


def _is_array(value) -> bool:
    return isinstance(value, (np.ndarray, get_array_module(value).ndarray))


def _split(obj, path: str, arrays: dict):
    """``obj`` with every array replaced by a reference; the arrays go into ``arrays``."""
    if hasattr(obj, "data") and _is_array(getattr(obj, "data", None)):  # a Tensor
        obj = obj.data
    if _is_array(obj):
        if obj.dtype == object:
            raise TypeError(f"checkpoint entry {path!r}: object arrays cannot be saved safely")
        arrays[path] = asnumpy(obj)
        return {"__array__": path}
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            key = str(key)
            if "/" in key or key == "__array__":
                raise ValueError(f"checkpoint key {key!r} under {path!r} may not contain '/'")
            out[key] = _split(value, f"{path}/{key}" if path else key, arrays)
        return out
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{path}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"checkpoint entry {path!r}: cannot save a {type(obj).__name__} "
        "(expected arrays, numbers, strings, None, lists or dicts)"
    )


def _join(obj, archive, path: Path):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            name = obj["__array__"]
            if name not in archive.files:
                raise CheckpointError(f"{path}: entry {name!r} is missing from the archive")
            return archive[name]
        return {key: _join(value, archive, path) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_join(v, archive, path) for v in obj]
    return obj


def save_checkpoint(path, state: dict) -> Path:
    """Write ``state`` (a nested dict of arrays and plain values) to ``path`` atomically.

    The file is written as ``.<name>.tmp`` beside ``path`` and renamed onto it only once it
    is complete and flushed, so a crash or Ctrl-C leaves the previous checkpoint intact.
    Returns the path written.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "state": _split(state, "", arrays)}
    text = json.dumps(meta, allow_nan=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **{_META: np.array(text)}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by ``save_checkpoint``: the nested dict, arrays as NumPy.

    Raises:
        CheckpointError: the file is missing, truncated or corrupt (its CRCs are checked as
            every entry is read), holds something other than a learnres checkpoint, or
            comes from a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path} holds a single array, not a learnres checkpoint")
        with archive:
            if _META not in archive.files:
                raise CheckpointError(
                    f"{path} is an .npz file but not a learnres checkpoint (no {_META!r} entry)"
                )
            meta = json.loads(str(archive[_META]))
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a learnres checkpoint ({meta.get('format')!r})")
            if meta.get("version") != FORMAT_VERSION:
                raise CheckpointError(
                    f"{path}: checkpoint format version {meta.get('version')}, this learnres "
                    f"reads version {FORMAT_VERSION}"
                )
            return _join(meta["state"], archive, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{path} is corrupt or truncated and cannot be read ({type(e).__name__}: {e}); "
            "nothing was loaded"
        ) from e
