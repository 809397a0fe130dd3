"""A checkpoint is checked whole before a run resumes from it: a bad value is refused with one
line and exit 2, and the checkpoint (and everything else in the folder) stays as it was.

The run here is resnet8 on the tiny CIFAR folder, stopped at iteration 2 of 4; each test
tampers with one thing in a copy of its checkpoint and runs ``learnres train --resume``.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from learnres.train import CheckpointError, load_checkpoint
from learnres.train.run import TrainConfig, train
from tests.train.conftest import error_line, train_cli
from tests.train.helpers import tiny_trainer
from tests.train.tamper import forge_header, nonfinite, read_raw, write_raw


@pytest.fixture(scope="module")
def stopped_run(tiny_cifar, tmp_path_factory):
    """A run folder whose checkpoint is at iteration 2 of 4 (stopped as by Ctrl-C)."""
    out = tmp_path_factory.mktemp("stopped") / "run"

    def stop(trainer):
        if trainer.iteration == 2:
            raise KeyboardInterrupt

    config = TrainConfig(
        model="resnet8",
        batch_size=8,
        iterations=4,
        eval_every=2,
        checkpoint_every=2,
        progress=False,
        plot=False,
        download=False,
        data_dir=str(tiny_cifar),
        out=str(out),
    )
    assert train(config, callbacks=[stop]).status == "interrupted"
    return out


@pytest.fixture
def run(stopped_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(stopped_run, out)
    return out


def _state(meta):
    return meta["state"]


def _set_config(key, value):
    def tamper(meta, arrays):
        config = json.loads(meta["state"]["config"])
        config[key] = value
        meta["state"]["config"] = json.dumps(config)

    return tamper


def _array(name, change):
    def tamper(meta, arrays):
        arrays[name] = change(arrays[name].copy())

    return tamper


def _negative_first(a):
    a.flat[0] = -1.0
    return a


def _nan_first(a):
    a.flat[0] = np.nan
    return a


def _json(path, value):
    def tamper(meta, arrays):
        *parents, last = path
        node = meta["state"]
        for key in parents:
            node = node[key]
        node[last] = value

    return tamper


CASES = {
    # item 3: values that would train on garbage or overwrite the good checkpoint with NaN
    "schedule base lr NaN": (_json(["schedule", "base_lr"], math.nan), "schedule base_lr"),
    "negative running_var": (
        _array("model/bn1.running_var", _negative_first),
        "model bn1.running_var holds negative values",
    ),
    "NaN weight": (_array("model/conv1.weight", _nan_first), "non-finite value"),
    "NaN momentum": (
        _array("optimizer/state/0/momentum_buffer", _nan_first),
        "optimizer state 0 momentum_buffer holds 1 non-finite",
    ),
    # item 9: contents a checkpoint never holds
    "config [1,2]": (_json(["config"], "[1, 2]"), "made from a dict, got list"),
    "history row without iteration": (_json(["history", 0], {"train_error": 1.0}), "history row"),
    "extra window key": (_json(["window", "evil"], 1), "window has unknown entries evil"),
    "bit_generator os.system": (
        _json(["loader", "shuffle_rng", "bit_generator"], "os.system"),
        "got 'os.system'",
    ),
    "bit_generator seed": (_json(["loader", "augment_rng", "bit_generator"], "seed"), "got 'seed'"),
    "float64 weights": (
        _array("model/conv1.weight", lambda a: a.astype(np.float64)),
        "conv1.weight is float64, this run uses float32",
    ),
    "huge-int weights": (
        _array("model/conv1.weight", lambda a: np.full(a.shape, 2**62, dtype=np.int64)),
        "conv1.weight is int64",
    ),
    "complex weights": (
        _array("model/conv1.weight", lambda a: a.astype(np.complex64)),
        "dtype complex64",
    ),
    "float iteration": (_json(["iteration"], 2.0), "iteration should be an int"),
    "iteration past the run": (_json(["iteration"], 5), "iteration should be an int"),
    "unknown config field": (_set_config("evil", 1), "unknown TrainConfig field(s): evil"),
    "negative elapsed": (_json(["elapsed"], -1.0), "elapsed should be a finite number >= 0"),
    "loader position": (_json(["loader", "position"], 10**9), "loader position"),
    "unknown top-level key": (_json(["evil"], {"x": 1}), "unknown entries evil"),
    "missing array": (lambda meta, arrays: arrays.pop("model/fc.bias"), "model/fc.bias"),
    "extra array": (lambda meta, arrays: arrays.update(evil=np.zeros(3)), "unknown entries"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_tampered_checkpoint_is_refused_and_kept(run, case):
    tamper, message = CASES[case]
    path = run / "checkpoint.npz"
    meta, arrays = read_raw(path)
    tamper(meta, arrays)
    write_raw(path, meta, arrays)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    numpy_state = np.random.get_state()
    code, _, err = train_cli("--out", run, "--resume", "--no-progress", "--no-plot")
    assert code == 2, err
    assert message in error_line(err)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    after = np.random.get_state()  # "seed" was never looked up, let alone called
    assert all(np.array_equal(a, b) for a, b in zip(numpy_state, after))


def test_json_200000_deep_is_refused_without_a_recursion_error(run):
    path = run / "checkpoint.npz"
    meta, arrays = read_raw(path)
    write_raw(path, meta, arrays, text="[" * 200_000 + "]" * 200_000)
    code, _, err = train_cli("--out", run, "--resume", "--no-progress")
    assert code == 2 and "nests deeper than 32 levels" in error_line(err)


def test_an_npy_header_claiming_1e11_floats_is_refused_before_allocation(run):
    path = run / "checkpoint.npz"
    forge_header(path, "model/conv1.weight", (10**11,))
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"claims 400,000,000,\d+ bytes|claims shape"):
        load_checkpoint(path)
    code, _, err = train_cli("--out", run, "--resume", "--no-progress")
    assert code == 2 and "conv1.weight" in error_line(err)
    assert path.read_bytes() == before


def test_an_untampered_checkpoint_resumes_to_the_end(run):
    code, out, err = train_cli("--out", run, "--resume", "--no-progress", "--no-plot")
    assert code == 0, err
    state = load_checkpoint(run / "checkpoint.npz")
    assert state["iteration"] == 4 and nonfinite(state) == []


def test_a_refused_state_restores_nothing(tmp_path):
    """``Trainer.load_state_dict`` checks everything before it copies anything: a NaN in the
    last optimizer buffer leaves the model's weights as they were (main copied the model
    first, then failed)."""
    tiny_trainer(tmp_path, iterations=3).fit()
    state = load_checkpoint(tmp_path / "checkpoint.npz")
    last = max(state["optimizer"]["state"], key=int)
    state["optimizer"]["state"][last]["momentum_buffer"][...] = np.nan
    other = tiny_trainer(tmp_path / "other", iterations=6, model_seed=5)
    before = {k: v.copy() for k, v in other.model.state_dict().items()}
    with pytest.raises(CheckpointError, match="non-finite"):
        other.load_state_dict(state)
    for key, value in other.model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    assert other.iteration == 0
