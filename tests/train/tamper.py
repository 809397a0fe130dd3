"""Reading and rewriting a checkpoint's raw parts, to test what loading does with bad ones.

``read_raw`` gives the JSON metadata and the arrays exactly as stored; ``write_raw`` writes
them back with ``np.savez`` (no checks: that is the point); ``forge_header`` replaces one
entry by a ``.npy`` whose header claims a shape its few bytes do not hold.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

META = "__meta__"


def nonfinite(state, prefix: str = "") -> list[str]:
    """Paths of the floating-point arrays in a loaded checkpoint that hold NaN or infinity
    (written here rather than imported, so the tests judge the package from outside)."""
    if isinstance(state, dict):
        return [p for k, v in state.items() for p in nonfinite(v, f"{prefix}/{k}")]
    if isinstance(state, list):
        return [p for i, v in enumerate(state) for p in nonfinite(v, f"{prefix}/{i}")]
    if isinstance(state, np.ndarray) and state.dtype.kind in "fc":
        return [] if np.isfinite(state).all() else [prefix]
    return []


def read_raw(path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as archive:
        meta = json.loads(str(archive[META]))
        arrays = {name: archive[name] for name in archive.files if name != META}
    return meta, arrays


def write_raw(path, meta, arrays: dict, text: str | None = None) -> None:
    text = json.dumps(meta) if text is None else text
    with open(path, "wb") as f:
        np.savez(f, **{META: np.array(text)}, **arrays)


def forge_header(path, name: str, shape: tuple, descr: str = "<f4") -> None:
    """Entry ``name`` of the .npz at ``path`` becomes a header claiming ``shape`` + 16 bytes."""
    with zipfile.ZipFile(path) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        npy, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    members[f"{name}.npy"] = npy.getvalue() + bytes(16)
    with zipfile.ZipFile(path, "w") as z:
        for member, data in members.items():
            z.writestr(member, data)
