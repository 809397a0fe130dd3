"""Checkpoint files: round trip, no pickles, atomic replacement, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from learnres.train import checkpoint as ckpt
from learnres.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _state():
    return {
        "iteration": 7,
        "model": {"conv1.weight": np.arange(6.0).reshape(2, 3), "bn.num": np.array(3)},
        "optimizer": {
            "state": {0: {"momentum_buffer": np.ones(2, np.float32)}},
            "param_groups": [{"lr": 0.1, "nesterov": False, "params": [0, 1]}],
        },
        "loader": {"rng": {"state": {"state": 2**127 + 5, "inc": 3}}, "position": None},
        "history": [{"iteration": 5, "train_error": 12.5}],
        "config": '{"model": "resnet20"}',
    }


def test_round_trip_keeps_values_dtypes_and_structure(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", _state())
    back = load_checkpoint(path)
    np.testing.assert_array_equal(back["model"]["conv1.weight"], np.arange(6.0).reshape(2, 3))
    assert back["optimizer"]["state"]["0"]["momentum_buffer"].dtype == np.float32
    assert back["loader"]["rng"]["state"]["state"] == 2**127 + 5  # 128-bit PCG64 state
    assert back["loader"]["position"] is None
    assert back["history"] == [{"iteration": 5, "train_error": 12.5}]
    with np.load(path, allow_pickle=False) as archive:  # plain arrays, readable by anyone
        assert "model/conv1.weight" in archive.files


def test_interrupted_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.npz", _state())
    before = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {**_state(), "iteration": 8})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary file left


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "corrupt or truncated"),
        (b"not a zip file at all", "corrupt or truncated"),
        ("npy", "single array"),
        ("npz", "not a learnres checkpoint"),
        ("pickle", "has dtype object"),
    ],
)
def test_bad_files_raise_checkpoint_error(tmp_path, content, message):
    path = tmp_path / "c.npz"
    if content == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif content == "npz":
        np.savez(path, weights=np.zeros(3))
    elif content == "pickle":  # an object array would need pickle: refused, never run
        np.savez(path, __meta__=np.array([{"a": 1}], dtype=object))
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_corrupted_entry_is_detected_by_its_crc(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", {"w": np.zeros(1000)})
    data = bytearray(path.read_bytes())
    data[600] ^= 0xFF  # inside the stored array
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_missing_file_and_unsaveable_values(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "absent.npz")
    with pytest.raises(TypeError, match="cannot save a set"):
        save_checkpoint(tmp_path / "c.npz", {"x": {1, 2}})
    assert not (tmp_path / "c.npz").exists()
