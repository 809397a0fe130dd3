"""A standing fuzz suite for ``learnres train`` (issue 15): whatever a user types and however a
checkpoint is tampered with, the command keeps the promises of README "What learnres
promises":

* it exits with 0 (done), 1 (diverged), 2 (a user's mistake) or 130 (interrupted), and
  never with a traceback (in-process: no exception escapes ``main``);
* a refusal (2) is one line, ``learnres train: error: ...``, and leaves every file as it
  was: the previous checkpoint byte-identical, no config.json, no folder it made;
* a run that went ahead writes only inside its run folder, leaves no temporary or lock file,
  and every checkpoint it leaves holds finite weights; a checkpoint changes only when the
  run legitimately advanced past it;
* nothing in a file is executed: NumPy's global random state is untouched and no marker
  file appears.

Three hypothesis searches, derandomized so CI sees the same cases every time (set
LEARNRES_FUZZ_RANDOM=1 for fresh ones, LEARNRES_FUZZ_EXAMPLES=N for more): command lines
(in-process calls of ``learnres.cli.main`` on a 120-image CIFAR folder, runs of at most a few
iterations), tampered checkpoints (arrays, JSON state and raw bytes of a run stopped at
iteration 2 of 4, resumed with ``--resume``), and mutated CIFAR pickles (``read_cifar10``).
A few real subprocesses check that the same holds for ``python -m learnres train``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from learnres.train.checkpoint import CheckpointError, load_checkpoint
from learnres.train.folder import LOCK_NAME, claim_run_folder
from learnres.train.run import TrainConfig, train
from tests.train.conftest import error_line, train_cli
from tests.train.tamper import forge_header, nonfinite, read_raw, write_raw


def _fuzz(examples: int):
    return settings(
        max_examples=int(os.environ.get("LEARNRES_FUZZ_EXAMPLES", 0)) or examples,
        derandomize=not os.environ.get("LEARNRES_FUZZ_RANDOM"),
        database=None,  # nothing written into the checkout
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


EXIT_CODES = {0, 1, 2, 130}


# ---- what every case must keep ---------------------------------------------------------------


def _tree(root: Path) -> dict[str, str]:
    """relative path -> sha1 of the content ('dir' for folders), for everything under root."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), root)] = "dir"
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = hashlib.sha1(f.read()).hexdigest()
    return found


@contextlib.contextmanager
def _inside(folder: Path):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def _run_dir(stdout: str) -> Path | None:
    """The run folder, from the header a run prints once its settings are accepted."""
    match = re.search(r"^(?:training|resuming) .* -> (.+)$", stdout, re.M)
    return Path(match[1]) if match else None


def _check(code, out, err, sandbox: Path, before: dict, numpy_state) -> None:
    """The promises every case keeps, whatever it was."""
    if currently_in_test_context():
        event(f"exit {code}")  # the spread shows in --hypothesis-show-statistics
    assert code in EXIT_CODES, (code, err)
    assert "Traceback" not in err, err
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_state, after)), "np.random touched"
    now = _tree(sandbox)
    if code == 2:
        error_line(err)  # exactly one error line, the last
        assert now == before, "a refused run changed files"
        return
    run = _run_dir(out)
    assert run is not None, out
    run = (sandbox / run).resolve()
    for path in set(now) - set(before):  # new files only inside the run folder
        assert (sandbox / path).resolve().is_relative_to(run) or run.is_relative_to(
            (sandbox / path).resolve()
        ), path
    for path in set(before) - {p for p in now}:
        raise AssertionError(f"{path} disappeared")
    assert not list(run.glob("*.tmp")) and not list(run.glob(".*.tmp"))
    assert not (run / LOCK_NAME).exists()
    if (run / "checkpoint.npz").exists():
        state = load_checkpoint(run / "checkpoint.npz")
        assert nonfinite(state) == []
    if code == 0:
        assert (run / "checkpoint.npz").exists() and (run / "config.json").exists()


# ---- 1. command lines ------------------------------------------------------------------------


JUNK = ["", "x", "nan", "inf", "-inf", "1e999", "-0", "0x10", " 3", "½", "--", "1,5", "None"]

# option -> (values that are fine, values that are mistakes); as text, the way a shell passes
# them. Every fine combination runs a few iterations at most on the 120-image folder.
OPTIONS = {
    "--model": (
        ["resnet8", "plain8", "ResNet-8"],
        ["resnet10", "resnet50", "vgg16", "", "../evil", "resnet8\x00"],
    ),
    "--dataset": (["cifar10", "CIFAR-10"], ["cifar100", "fashion-mnist", "mnist", ""]),
    "--iterations": ([1, 2, 3], [0, -1, 2**70, 1.5]),
    "--epochs": ([0.05, 0.1, 0.2, "1e-9"], [0, -1, -0.5]),
    "--batch-size": ([4, 8, 16], [0, -8, 2.5, 200]),
    "--subset": ([50, 100], [0, -1, 1000]),
    "--validation": ([0, 0.1, 0.5, 10], [-1, 1.5, -0.1, 100]),
    "--lr": ([0.1, 0.001, 10, 1e6, 1e30], [0, -0.1]),
    "--momentum": ([0, 0.9, 1.5], [-1]),
    "--weight-decay": ([0, 1e-4, 1.0], [-1e-4]),
    "--seed": ([0, 1, 2**63 - 1], [-1, 2**63, 1.5]),
    "--eval-every": ([1, 2, 3], [0]),
    "--checkpoint-every": ([1, 2], [0]),
    "--log-every": ([1, 2], [0]),
    "--schedule": (["paper", "warmup", "cosine"], ["linear", ""]),
    "--shortcut": (["A", "B", "C"], ["D", "a"]),
    "--normalization": (["pixel", "channel", "none"], ["zca"]),
    "--dtype": (["float32", "float64"], ["float16"]),
    "--device": (["cpu"], ["cuda", "tpu"]),  # (cuda: a mistake where no GPU is usable)
}
OUTS = (["run", "a/b/run", "empty", "foreign", "", None], ["afile", "afile/run", "held"])
DATA = (["DATA"], ["missing", "afile"])
MISTAKES = ["option", "option", "option", "out", "data", "flag", "milestones"]


@st.composite
def command_lines(draw):
    """A ``learnres train`` command line: fine options (each given with probability 1/3),
    then zero, one or two mistakes (a bad value, folder, data folder, flag or milestones)."""
    given = {}
    for option, (fine, _) in OPTIONS.items():
        if draw(st.integers(0, 2)) == 0:
            given[option] = draw(st.sampled_from(fine))
    out, data, flags = draw(st.sampled_from(OUTS[0])), "DATA", []
    milestones = None
    if draw(st.booleans()) and given.get("--schedule", "paper") != "cosine":
        milestones = draw(st.sampled_from([["1"], ["1", "2"], ["2", "3"]]))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2]))):
        mistake = draw(st.sampled_from(MISTAKES))
        if mistake == "option":
            option = draw(st.sampled_from(sorted(OPTIONS)))
            given[option] = draw(st.sampled_from(OPTIONS[option][1] + JUNK))
        elif mistake == "out":
            out = draw(st.sampled_from(OUTS[1]))
        elif mistake == "data":
            data = draw(st.sampled_from(DATA[1]))
        elif mistake == "flag":
            flags.append(draw(st.sampled_from(["--evil-flag", "--resume"])))
        else:
            milestones = draw(st.sampled_from([[], ["0"], ["3", "1"], ["x"], ["-2"]]))
    if "--iterations" in given and "--epochs" in given:
        del given[draw(st.sampled_from(["--iterations", "--epochs"]))]
    if "--iterations" not in given and "--epochs" not in given:
        given["--iterations"] = "2"  # the default would be 64,000
    argv = ["--data-dir", data, "--no-download", "--no-progress", "--no-plot"]
    for option, value in given.items():
        argv += [option, str(value)]
    if milestones is not None:
        argv += ["--milestones", *milestones]
    if draw(st.booleans()):
        argv.append("--no-augment")
    argv += flags
    if out is not None:
        argv += ["--out", out]
    return argv, out


@pytest.fixture(scope="module")
def fuzz_data(tmp_path_factory):
    from tests.train.conftest import write_tiny_cifar

    return write_tiny_cifar(tmp_path_factory.mktemp("fuzz-data"))


def _sandbox(base: Path) -> Path:
    """A fresh working folder: a file, an empty folder, a folder with a foreign file."""
    sandbox = Path(tempfile.mkdtemp(dir=base))
    (sandbox / "afile").write_text("not a folder")
    (sandbox / "empty").mkdir()
    (sandbox / "foreign").mkdir()
    (sandbox / "foreign" / "notes.txt").write_text("the user's")
    (sandbox / "held").mkdir()
    return sandbox


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
@_fuzz(60)
@given(case=command_lines())
def test_fuzz_command_lines(case, fuzz_data, tmp_path_factory):
    argv, out = case
    data_tree = _tree(fuzz_data)
    sandbox = _sandbox(tmp_path_factory.getbasetemp())
    argv = [str(fuzz_data) if a == "DATA" else a for a in argv]
    with _inside(sandbox), claim_run_folder(sandbox / "held"):  # another run holds "held"
        before = _tree(sandbox)
        numpy_state = np.random.get_state()
        with np.errstate(all="ignore"):
            code, stdout, err = train_cli(*argv)
        _check(code, stdout, err, sandbox, before, numpy_state)
        if out in OUTS[1] or "--evil-flag" in argv:  # a file, another run's folder, a typo
            assert code == 2
    assert _tree(fuzz_data) == data_tree
    shutil.rmtree(sandbox)


# ---- 2. tampered checkpoints -----------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_run(fuzz_data, tmp_path_factory):
    """A run folder whose checkpoint is at iteration 2 of 4 (stopped as by Ctrl-C)."""
    out = tmp_path_factory.mktemp("fuzz-stopped") / "run"

    def stop(trainer):
        if trainer.iteration == 2:
            raise KeyboardInterrupt

    config = TrainConfig(
        model="resnet8",
        batch_size=8,
        iterations=4,
        eval_every=2,
        checkpoint_every=2,
        schedule="warmup",
        progress=False,
        plot=False,
        download=False,
        data_dir=str(fuzz_data),
        out=str(out),
    )
    assert train(config, callbacks=[stop]).status == "interrupted"
    return out


JSON_WORDS = [
    "os.system",
    "seed",
    "PCG64",
    "MT19937",
    "__import__",
    "step",
    "warmup",
    "eval",
    "resnet8",
    "cifar10",
    "float64",
    "[1, 2]",
    "{}",
    "NaN",
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.integers(-3, 5)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(JSON_WORDS),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["iteration", "kind", "x", "state", "__array__"]), children, max_size=3
        )
    ),
    max_leaves=6,
)


def _paths(node, prefix=()):
    """Every place in the JSON state: (path, value)."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _nudge(value, draw):
    """A plausible change of a number: what a hand edit or a bit of rot would make."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return draw(JSON_VALUES)
    return draw(
        st.sampled_from(
            [
                value + 1,
                value - 1,
                -value,
                value * 2,
                0,
                float(value),
                math.nan,
                math.inf,
                -math.inf,
                10**30,
                1e-30,
            ]
        )
    )


ARRAY_CHANGES = [
    "nan",
    "inf",
    "-inf",
    "negate",
    "huge",
    "zero",
    "float64",
    "float16",
    "int64",
    "bool",
    "complex",
    "add axis",
    "truncate",
    "empty",
    "drop",
    "extra entry",
]


def _change_array(a: np.ndarray, how: str, where: float) -> np.ndarray:
    a = a.copy()
    if how in ("nan", "inf", "-inf") and a.size and a.dtype.kind == "f":
        a.flat[min(int(where * a.size), a.size - 1)] = float(how)
    elif how == "negate":
        a = -a
    elif how == "huge":
        a = a * np.float32(1e30) if a.dtype.kind == "f" else a + 2**40
    elif how == "zero":
        a = np.zeros_like(a)
    elif how in ("float64", "float16", "int64", "bool", "complex"):
        a = a.astype({"complex": np.complex64}.get(how, how))
    elif how == "add axis":
        a = a[None]
    elif how == "truncate":
        a = a.reshape(-1)[: max(a.size - 1, 0)]
    elif how == "empty":
        a = a.reshape(-1)[:0]
    return a


@st.composite
def tamperings(draw, meta: dict, arrays: dict):
    """A plan for one tampering, small to print: ("array", name, how, where),
    ("json", path, action, value) or ("raw", kind, parameter); ``_tamper`` carries it out."""
    kind = draw(st.sampled_from(["array", "array", "json", "json", "nudge", "nudge", "raw"]))
    if kind == "array":
        return (
            "array",
            draw(st.sampled_from(sorted(arrays))),
            draw(st.sampled_from(ARRAY_CHANGES)),
            draw(st.floats(0, 1)),
        )
    if kind in ("json", "nudge"):
        places = [(p, v) for p, v in _paths(meta["state"]) if p]
        if kind == "nudge":  # a number somewhere: the edits most likely to look valid
            places = [(p, v) for p, v in places if isinstance(v, (int, float))]
        path, old = draw(st.sampled_from(places))
        if kind == "nudge":
            return ("json", path, "replace", (None, _nudge(old, draw)))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        key = draw(st.sampled_from(["evil", "seed", "kind", "x"])) if action == "add" else None
        return ("json", path, action, (key, draw(JSON_VALUES)))
    raw = draw(st.sampled_from(["deep", "not a dict", "truncated json", "header", "cut", "flip"]))
    if raw == "header":
        return (
            "raw",
            raw,
            (
                draw(st.sampled_from(sorted(arrays))),
                draw(st.sampled_from([(10**11,), (2**62, 4), (0,), (7, 7)])),
            ),
        )
    return ("raw", raw, draw(st.floats(0, 1)))


def _tamper(plan, path: Path) -> None:
    """Carry out a plan of ``tamperings`` on the checkpoint at ``path``."""
    meta, arrays = read_raw(path)
    text, kind = None, plan[0]
    if kind == "array":
        _, name, how, where = plan
        if how == "drop":
            del arrays[name]
        elif how == "extra entry":
            arrays[name + "_extra"] = arrays[name]
        else:
            arrays[name] = _change_array(arrays[name], how, where)
    elif kind == "json":
        _, path_in_state, action, (key, value) = plan
        parent = meta["state"]
        for step in path_in_state[:-1]:
            parent = parent[step]
        last = path_in_state[-1]
        if action == "replace":
            parent[last] = value
        elif action == "delete":
            parent.pop(last)
        elif isinstance(parent, dict):
            parent[key] = value
        else:
            parent.append(value)
    else:
        _, raw, parameter = plan
        if raw == "deep":
            text = "[" * 100_000 + "]" * 100_000
        elif raw == "not a dict":
            text = json.dumps([meta])
        elif raw == "truncated json":
            text = json.dumps(meta)[: int(parameter * 2000)]
    write_raw(path, meta, arrays, text=text)
    if kind != "raw":
        return
    if plan[1] == "header":
        forge_header(path, *plan[2])
    elif plan[1] in ("cut", "flip"):
        data = bytearray(path.read_bytes())
        at = min(int(plan[2] * len(data)), len(data) - 1)
        if plan[1] == "cut":
            del data[at:]
        else:
            data[at] ^= 0xFF
        path.write_bytes(bytes(data))


@_fuzz(80)
@given(data=st.data())
def test_fuzz_tampered_checkpoints(data, stopped_run, tmp_path_factory):
    meta, arrays = read_raw(stopped_run / "checkpoint.npz")
    what = data.draw(tamperings(meta, arrays), label="tampering")
    sandbox = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    run = sandbox / "run"
    shutil.copytree(stopped_run, run)
    _tamper(what, run / "checkpoint.npz")
    tampered = (run / "checkpoint.npz").read_bytes()
    with _inside(sandbox):
        before = _tree(sandbox)
        numpy_state = np.random.get_state()
        with np.errstate(all="ignore"):
            code, out, err = train_cli("--out", "run", "--resume", "--no-progress", "--no-plot")
        _check(code, out, err, sandbox, before, numpy_state)
    now = (run / "checkpoint.npz").read_bytes()
    if code == 0 or (code == 1 and now != tampered):  # advanced: a new, valid checkpoint
        state = load_checkpoint(run / "checkpoint.npz")
        assert state["iteration"] > 2 and nonfinite(state) == []
    else:
        assert now == tampered, what
    shutil.rmtree(sandbox)


# ---- 3. mutated data files -------------------------------------------------------------------


@_fuzz(120)
@given(data=st.data())
def test_fuzz_cifar_pickles(data, tmp_path_factory):
    """Random edits of a CIFAR batch: read, or refused with DatasetFormatError or
    RefusedGlobalError; never another exception, never a call outside the allow-list."""
    import pickle

    from learnres.data.cifar import read_cifar10
    from learnres.data.dataset import DatasetFormatError
    from learnres.data.safe_pickle import RefusedGlobalError
    from tests.train.conftest import write_tiny_cifar

    folder = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    batches = write_tiny_cifar(folder) / "cifar-10-batches-py"
    name = data.draw(st.sampled_from(["data_batch_1", "test_batch", "batches.meta"]))
    raw = bytearray((batches / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        how = data.draw(st.sampled_from(["flip", "cut", "insert", "opcode"]))
        if how == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "cut":
            del raw[at:]
        elif how == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:  # a pickle opcode that names or calls something
            raw[at:at] = data.draw(
                st.sampled_from(
                    [
                        b"cos\nsystem\n",
                        b"cbuiltins\neval\n",
                        b"cnumpy\nndarray\n",
                        b"R",
                        b"b",
                        b"cnumpy.random\nseed\n",
                        pickle.dumps(os.getpid, protocol=2)[2:-1],
                    ]
                )
            )
        if not raw:
            break
    (batches / name).write_bytes(bytes(raw))
    numpy_state = np.random.get_state()
    split = "test" if name == "test_batch" else "train"
    try:
        read_cifar10(batches, split)
        event("read")
    except (DatasetFormatError, RefusedGlobalError) as e:
        event(type(e).__name__)
    assert all(np.array_equal(a, b) for a, b in zip(numpy_state, np.random.get_state()))
    shutil.rmtree(folder)


# ---- 4. real processes -----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["bad option", "tampered checkpoint", "a short run"])
def test_real_processes_keep_the_promises(case, stopped_run, fuzz_data, tmp_path):
    """The same promises for ``python -m learnres train`` in its own process: the exit
    status, no traceback on stderr, a refused run changes nothing."""
    run = tmp_path / "run"
    if case == "bad option":
        argv, expected = ["--epochs", "nan", "--out", run], 2
    elif case == "tampered checkpoint":
        shutil.copytree(stopped_run, run)
        meta, arrays = read_raw(run / "checkpoint.npz")
        meta["state"]["loader"]["shuffle_rng"]["bit_generator"] = "seed"
        write_raw(run / "checkpoint.npz", meta, arrays)
        argv, expected = ["--out", run, "--resume"], 2
    else:
        argv = [
            "--model",
            "resnet8",
            "--iterations",
            "2",
            "--batch-size",
            "8",
            "--data-dir",
            fuzz_data,
            "--no-download",
            "--out",
            run,
        ]
        expected = 0
    before = _tree(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "learnres", "train", *map(str, argv), "--no-progress", "--no-plot"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == expected, proc.stderr
    assert "Traceback" not in proc.stderr
    if expected == 2:
        error_line(proc.stderr)
        assert _tree(tmp_path) == before
    else:
        assert nonfinite(load_checkpoint(run / "checkpoint.npz")) == []


def test_the_harness_notices_a_broken_promise(tmp_path):
    """The checks can fail: a refused run that left a file, and a NaN checkpoint, are
    caught."""
    before = _tree(tmp_path)
    (tmp_path / "left").write_text("x")
    with pytest.raises(AssertionError, match="a refused run changed files"):
        _check(2, "", "learnres train: error: x\n", tmp_path, before, np.random.get_state())
    with pytest.raises(AssertionError):
        _check(
            1, "", "Traceback (most recent call last):\n", tmp_path, before, np.random.get_state()
        )
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "left")
