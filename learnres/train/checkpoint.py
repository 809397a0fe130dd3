"""Checkpoints: a training run's whole state in one ``.npz`` file, safe to load and to write.

A checkpoint is a nested dict (model ``state_dict``, optimizer and schedule state, the data
loader's RNG state, the iteration, the metrics history, the run's configuration). Its
arrays become entries of the ``.npz`` archive, named by their path in the dict
(``model/conv1.weight``, ``optimizer/state/0/momentum_buffer``), so ``np.load`` shows them to
anyone curious; everything else (numbers, strings, lists, None) is one JSON string stored
under ``__meta__``, with each array replaced by ``{"__array__": "<entry name>"}``.

Three promises:

* **Loading runs no code.** ``np.load(..., allow_pickle=False)`` reads only plain arrays, and
  JSON holds only data (DESIGN.md, "Safe files").
* **Loading allocates only what the file holds.** Before an array is read, its ``.npy``
  header is checked: a numeric dtype (bool, int, float; no objects, strings or complex
  numbers) and a size that matches the bytes the archive really stores for it; the JSON
  part is bounded in size (``MAX_META_BYTES``) and nesting (``MAX_META_DEPTH``). A file
  that claims 373 GiB of floats is refused, not allocated.
* **Only whole, finite checkpoints are written.** ``save_checkpoint`` refuses a state whose
  arrays hold NaN or infinity (those weights are not worth keeping: the previous checkpoint
  stays), and writes with ``learnres.train.folder.atomic_write``: a temporary file of its
  own in the same folder, flushed, then renamed onto the target, so the target is the old
  checkpoint or the new one, never half of one, and two writers never share a temporary.

Anything wrong with a file (missing, truncated, not a checkpoint, another format version,
oversized or malformed entries) raises ``CheckpointError`` with the path and what was wrong.
Whether the *values* fit the run that loads them is checked by
``learnres.train.state_check`` before anything is restored.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from learnres.backend import asnumpy, get_array_module
from learnres.train.folder import atomic_write

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointError",
    "MAX_META_BYTES",
    "MAX_META_DEPTH",
    "load_checkpoint",
    "json_depth",
    "nonfinite_entries",
    "save_checkpoint",
]

FORMAT = "learnres-checkpoint"
FORMAT_VERSION = 1
_META = "__meta__"
MAX_META_BYTES = 16 * 2**20  # the JSON part: configuration, history, schedule (~100 kB in 64k its)
MAX_META_DEPTH = 32  # nesting of the JSON part (a checkpoint nests 5 deep)
_DTYPE_KINDS = "biuf"  # bool, int, uint, float: what a training state holds
_DEFLATE_MAX_RATIO = 1100  # deflate cannot shrink data more than ~1032:1


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


def _join(obj, archive, path: Path, used: set):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            name = obj["__array__"]
            if not isinstance(name, str) or name == _META or name not in archive.files:
                raise CheckpointError(f"{path}: entry {name!r} is missing from the archive")
            if name in used:
                raise CheckpointError(f"{path}: entry {name!r} is used twice")
            used.add(name)
            return archive[name]
        return {key: _join(value, archive, path, used) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_join(v, archive, path, used) for v in obj]
    return obj


def nonfinite_entries(state) -> list[str]:
    """Paths (``model/conv1.weight``, ...) of the floating-point arrays in ``state`` (a nested
    dict/list of arrays and plain values) that hold NaN or infinity."""
    arrays: dict[str, np.ndarray] = {}
    _split(state, "", arrays)
    return [name for name, a in arrays.items() if a.dtype.kind in "fc" and not np.isfinite(a).all()]


def save_checkpoint(path, state: dict) -> Path:
    """Write ``state`` (a nested dict of arrays and plain values) to ``path`` atomically.

    The file is written as a temporary file of this writer's own beside ``path`` and renamed
    onto it only once it is complete and flushed, so a crash or Ctrl-C leaves the previous
    checkpoint intact. Returns the path written.

    Raises:
        ValueError: an array holds NaN or infinity (nothing is written).
        TypeError: a value that cannot be saved (objects, sets, object arrays).
        OSError: the folder cannot be written (the previous checkpoint is kept).
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "state": _split(state, "", arrays)}
    bad = [name for name, a in arrays.items() if a.dtype.kind in "fc" and not np.isfinite(a).all()]
    if bad:
        raise ValueError(
            f"refusing to save {path}: non-finite values (NaN or infinity) in "
            f"{_some(bad)}; the previous checkpoint is kept"
        )
    text = json.dumps(meta, allow_nan=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda f: np.savez(f, **{_META: np.array(text)}, **arrays))


def _some(names: list[str], n: int = 5) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON ``text`` (strings skipped), in linear time."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text).encode("ascii", "replace")
    codes = np.frombuffer(bare, dtype=np.uint8)
    steps = np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
    steps -= np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _check_entries(archive, path: Path) -> None:
    """Every entry of the .npz: a plain .npy of a numeric dtype whose header's size matches
    the bytes stored, checked before any array is allocated."""
    on_disk = path.stat().st_size
    for info in archive.zip.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            raise CheckpointError(f"{path}: unexpected archive member {name!r}")
        if info.compress_type == zipfile.ZIP_STORED:
            limit = on_disk
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            limit = min(on_disk, info.compress_size) * _DEFLATE_MAX_RATIO + 4096
        else:
            raise CheckpointError(f"{path}: entry {name!r} uses an unsupported compression")
        if info.compress_size > on_disk or info.file_size > limit:
            raise CheckpointError(
                f"{path}: entry {name!r} claims {info.file_size:,} bytes, more than the "
                f"{on_disk:,}-byte file can hold"
            )
        with archive.zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise CheckpointError(f"{path}: entry {name!r} has .npy version {version}")
            header = f.tell()
        key = name[: -len(".npy")]
        if dtype.hasobject or dtype.kind not in _DTYPE_KINDS or dtype.fields is not None:
            if key != _META or dtype.kind != "U" or shape != ():
                raise CheckpointError(
                    f"{path}: entry {key!r} has dtype {dtype}; a checkpoint holds only "
                    "bool, integer and floating-point arrays"
                )
        if any(int(n) < 0 for n in shape):
            raise CheckpointError(f"{path}: entry {key!r} has a negative size {shape}")
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if header + size != info.file_size:
            raise CheckpointError(
                f"{path}: entry {key!r} claims shape {shape} of {dtype} ({size:,} bytes) "
                f"but stores {info.file_size - header:,} bytes"
            )


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by ``save_checkpoint``: the nested dict, arrays as NumPy.

    Raises:
        CheckpointError: the file is missing, truncated or corrupt (its CRCs are checked as
            every entry is read), holds something other than a learnres checkpoint, comes
            from a newer format version, or has entries that are not plain numeric arrays
            of the size they claim, or JSON that is too large or too deeply nested.
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
            _check_entries(archive, path)
            text = archive[_META]
            if text.dtype.kind != "U" or text.shape != ():
                raise CheckpointError(f"{path}: its {_META!r} entry is not a JSON string")
            text = str(text)
            if len(text) > MAX_META_BYTES:
                raise CheckpointError(
                    f"{path}: its JSON part is {len(text):,} characters, more than the "
                    f"{MAX_META_BYTES:,} a checkpoint needs"
                )
            if json_depth(text) > MAX_META_DEPTH:
                raise CheckpointError(
                    f"{path}: its JSON part nests deeper than {MAX_META_DEPTH} levels"
                )
            meta = json.loads(text)
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
                raise CheckpointError(f"{path}: not a learnres checkpoint ({found!r})")
            if meta.get("version") != FORMAT_VERSION:
                raise CheckpointError(
                    f"{path}: checkpoint format version {meta.get('version')!r}, this learnres "
                    f"reads version {FORMAT_VERSION}"
                )
            if not isinstance(meta.get("state"), dict):
                raise CheckpointError(f"{path}: its state is not a dict")
            used: set[str] = set()
            state = _join(meta["state"], archive, path, used)
            unused = sorted(set(archive.files) - used - {_META})
            if unused:
                raise CheckpointError(f"{path}: unknown entries {_some(unused)}")
            return state
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, RecursionError) as e:
        raise CheckpointError(
            f"{path} is corrupt or truncated and cannot be read ({type(e).__name__}: {e}); "
            "nothing was loaded"
        ) from e
