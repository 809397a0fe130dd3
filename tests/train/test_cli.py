"""``learnres train`` and ``learnres plot`` on the command line."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from learnres.cli import main as learnres
from learnres.train import checkpoint as ckpt
from learnres.train import load_checkpoint, read_csv
from learnres.train.cli import _option, add_arguments, config_from_args
from learnres.train.run import TrainConfig, train
from tests.train.conftest import error_line, train_cli

QUICK = [
    "--model",
    "resnet8",
    "--subset",
    "128",
    "--batch-size",
    "16",
    "--iterations",
    "8",
    "--eval-every",
    "4",
    "--checkpoint-every",
    "4",
    "--no-progress",
]


def _run(*argv):
    return learnres(["train", *map(str, argv)])


def test_train_writes_the_run_folder(shared_datasets, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(*QUICK, "--data-dir", shared_datasets, "--out", out) == 0
    text = capsys.readouterr().out
    assert "done: 8 iterations" in text and "test error" in text
    history = read_csv(out)
    assert history.column("test_error")[0] == [4, 8]
    assert {"metrics.csv", "checkpoint.npz", "config.json"} <= {p.name for p in out.iterdir()}
    state = load_checkpoint(out / "checkpoint.npz")
    assert state["iteration"] == 8 and '"milestones": [4, 6]' in state["config"]


def test_resume_on_the_command_line_matches_a_straight_run(shared_datasets, tmp_path):
    """A run stopped at iteration 3 (Ctrl-C, simulated between steps) and continued with
    ``learnres train --out DIR --resume`` (no other option: the settings come from the
    checkpoint) ends with the same weights as an uninterrupted run."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _run(*QUICK, "--data-dir", shared_datasets, "--out", straight) == 0

    def stop(trainer):
        if trainer.iteration == 3:
            raise KeyboardInterrupt

    config = TrainConfig(
        model="resnet8",
        subset=128,
        batch_size=16,
        iterations=8,
        eval_every=4,
        checkpoint_every=4,
        progress=False,
        data_dir=str(shared_datasets),
        out=str(split),
    )
    assert train(config, callbacks=[stop]).status == "interrupted"
    assert load_checkpoint(split / "checkpoint.npz")["iteration"] == 3
    assert _run("--out", split, "--resume", "--no-progress") == 0
    a = load_checkpoint(straight / "checkpoint.npz")["model"]
    b = load_checkpoint(split / "checkpoint.npz")["model"]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_real_ctrl_c_saves_and_resume_finishes_the_run(shared_datasets, tmp_path):
    """``learnres train`` in its own process gets a real SIGINT once its first checkpoint
    (iteration 4) is on disk: it exits with 130 after saving the iteration it names, leaves
    no temporary file, and ``--resume`` carries the same run to its end, each iteration
    logged once."""
    out = tmp_path / "run"
    argv = [
        *QUICK,
        "--iterations",
        "200",
        "--eval-every",
        "200",
        "--log-every",
        "1",
        "--data-dir",
        shared_datasets,
        "--out",
        out,
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "learnres", "train", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, text
    stopped = int(re.search(r"interrupted at iteration (\d+); checkpoint saved", text)[1])
    assert 4 <= stopped < 200
    assert load_checkpoint(out / "checkpoint.npz")["iteration"] == stopped
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]

    assert _run("--out", out, "--resume", "--no-progress") == 0
    assert load_checkpoint(out / "checkpoint.npz")["iteration"] == 200
    iterations, _ = read_csv(out).column("train_loss")
    assert iterations == list(range(1, 201))  # every iteration once, none lost or repeated


def test_resume_refuses_other_settings_and_new_runs_refuse_a_used_folder(
    shared_datasets, tmp_path, capsys
):
    out = tmp_path / "run"
    assert _run(*QUICK, "--data-dir", shared_datasets, "--out", out) == 0
    before = (out / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    assert _run(*QUICK, "--data-dir", shared_datasets, "--out", out) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert _run("--out", out, "--resume", "--model", "resnet14") == 2
    assert "model: checkpoint 'resnet8', requested 'resnet14'" in capsys.readouterr().err
    assert (out / "checkpoint.npz").read_bytes() == before


def test_resume_of_a_corrupt_checkpoint_is_refused(shared_datasets, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(*QUICK, "--data-dir", shared_datasets, "--out", out) == 0
    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated")
    capsys.readouterr()
    assert _run("--out", out, "--resume") == 2
    assert "corrupt or truncated" in capsys.readouterr().err
    assert (out / "checkpoint.npz").read_bytes() == b"PK\x03\x04 truncated"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "vgg16"], "valid names: resnet20, resnet32"),
        (["--model", "resnet21"], "depth 6n+2"),
        (["--dataset", "mnist"], "choose from cifar10, cifar100, fashion-mnist"),
    ],
)
def test_unknown_names_list_the_valid_ones(tmp_path, capsys, argv, message):
    assert _run(*argv, "--out", tmp_path / "x") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_missing_data_explains_where_to_put_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LEARNRES_CACHE_DIR", str(tmp_path / "cache"))
    code = _run("--data-dir", tmp_path / "empty", "--no-download", "--out", tmp_path / "x")
    assert code == 2
    err = capsys.readouterr().err
    assert "cifar-10-python.tar.gz" in err and "https://" in err


def test_help_explains_each_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        learnres(["train", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--model",
        "--dataset",
        "--data-dir",
        "--device",
        "--iterations",
        "--epochs",
        "--batch-size",
        "--lr",
        "--schedule",
        "--shortcut",
        "--subset",
        "--validation",
        "--seed",
        "--out",
        "--resume",
        "--eval-every",
        "--checkpoint-every",
    ):
        assert option in text
    assert "32k" in text and "N/2 and 3N/4" in text


# ---- the options are TrainConfig's fields, and cannot drift from them ---------------------------


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="learnres train")
    add_arguments(parser)
    return parser


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def cli_drift(config_class=TrainConfig, parser=None) -> list[str]:
    """Where ``learnres train``'s options and ``config_class``'s fields disagree: a field
    without an option or an option without a field; an option with a default of its own (it
    would override a resumed run's saved value); a bool field whose flag does not turn its
    default over; a default that the help does not show, or that given on the command line
    does not give the field's value and type back; a choice that ``check()`` refuses."""
    parser = parser or _train_parser()
    fields = {f.name: f.default for f in dataclasses.fields(config_class)}
    options = {a.dest: a for a in parser._actions if a.option_strings}
    options = {dest: a for dest, a in options.items() if dest not in ("help", "resume")}
    cls = config_class.__name__
    problems = [f"{cls}.{name} has no option" for name in fields if name not in options]
    problems += [
        f"{a.option_strings[0]} sets {dest!r}, which is no {cls} field"
        for dest, a in options.items()
        if dest not in fields
    ]
    for name in fields.keys() & options.keys():
        default, option = fields[name], options[name]
        flag, expected = option.option_strings[0], "--" + name.replace("_", "-")
        if option.default is not None:
            problems.append(f"{flag} has a default of its own, {option.default!r}")
        if isinstance(default, bool):
            expected = "--no-" + expected[2:] if default else expected
            if flag != expected or option.const is default:
                problems.append(f"{cls}.{name} (default {default}) is not the flag {expected}")
            continue
        if flag != expected:
            problems.append(f"{cls}.{name}'s option is {flag}, not {expected}")
        if default is None:
            continue  # the help says in words what None means
        if f"default {_shown(default)}" not in option.help:
            problems.append(f"{flag}'s help does not say 'default {_shown(default)}'")
        try:
            given = getattr(parser.parse_args([flag, _shown(default)]), name)
        except SystemExit:
            given = "refused"
        if given != default or type(given) is not type(default):
            problems.append(f"{flag} {_shown(default)} gives {given!r}, not {default!r}")
        for choice in option.choices or ():
            try:
                config_class(**{name: choice}).check()
            except ValueError as e:
                problems.append(f"{flag} offers {choice!r}, which {cls}.check refuses: {e}")
    return sorted(problems)


def test_the_options_are_the_config_fields_with_their_defaults():
    assert cli_drift() == []
    assert config_from_args(_train_parser().parse_args([])) == TrainConfig()


def test_a_drift_between_the_options_and_the_config_is_caught():
    """A field added without an option, an option without a field, a default changed in
    TrainConfig but not in the help, an option with a default of its own: each is named."""
    field = ("label_smoothing", float, 0.0)
    extra = dataclasses.make_dataclass("Extra", [field], bases=(TrainConfig,))
    assert cli_drift(extra) == ["Extra.label_smoothing has no option"]
    moved = dataclasses.make_dataclass("Moved", [("batch_size", int, 256)], bases=(TrainConfig,))
    assert cli_drift(moved) == ["--batch-size's help does not say 'default 256'"]
    parser = _train_parser()
    parser.add_argument("--mixup", type=float)
    assert cli_drift(parser=parser) == ["--mixup sets 'mixup', which is no TrainConfig field"]
    parser = _train_parser()
    next(a for a in parser._actions if a.dest == "seed").default = 0
    assert cli_drift(parser=parser) == ["--seed has a default of its own, 0"]
    with pytest.raises(ValueError, match="TrainConfig has no field 'mixup'"):
        _option(parser, "mixup", "mix images")


def test_plot_overlays_runs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from learnres.train.metrics import MetricsHistory

    for name, shift in (("plain20", 0.0), ("plain56", 5.0)):
        h = MetricsHistory()
        for it in range(100, 1001, 100):
            h.record(it, train_error=50.0 - it / 50 + shift, test_error=55.0 - it / 60 + shift)
        (tmp_path / name).mkdir()
        h.write_csv(tmp_path / name / "metrics.csv")
    out = tmp_path / "fig6.png"
    assert (
        learnres(
            [
                "plot",
                str(tmp_path / "plain20"),
                str(tmp_path / "plain56"),
                "--out",
                str(out),
                "--ylim",
                "0",
                "60",
            ]
        )
        == 0
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert learnres(["plot", str(tmp_path / "absent")]) == 2
    assert "no metrics file" in capsys.readouterr().err


# ---- a user's mistakes: one line naming the option or file, exit 2, nothing written ----------

_TINY = [
    "--model",
    "resnet8",
    "--batch-size",
    "8",
    "--iterations",
    "2",
    "--eval-every",
    "2",
    "--no-progress",
    "--no-plot",
    "--no-download",
]


@pytest.fixture
def no_data(monkeypatch):
    """Fail the test if any data is read: the options must be refused before that."""
    import learnres.train.run

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the options were checked")

    monkeypatch.setattr(learnres.train.run, "load_dataset", refuse)  # where train looks it up


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--epochs", "-1"], "--epochs"),  # item 4: main trained one iteration
        (["--epochs", "0"], "--epochs"),
        (["--epochs", "inf"], "--epochs"),  # item 8: OverflowError on main
        (["--epochs", "nan"], "--epochs"),
        (["--seed", "-1"], "--seed"),
        (["--seed", "1.5"], "--seed"),
        (["--lr", "inf"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "0"], "--lr"),
        (["--momentum", "-0.5"], "--momentum"),
        (["--weight-decay", "nan"], "--weight-decay"),
        (["--validation", "nan"], "--validation"),
        (["--validation", "1.5"], "--validation"),
        (["--iterations", "0"], "--iterations"),
        (["--batch-size", "x"], "--batch-size"),
        (["--milestones", "5", "3"], "--milestones"),
        (["--device", "cuda"], "--device"),  # no usable GPU (taken away below)
        (["--device", "cuda:x"], "--device"),
        (["--processes", "0"], "--processes"),
        (["--processes", "2", "--batch-size", "1"], "--processes"),  # an image each at least
    ],
)
def test_bad_option_values_name_the_option_before_any_data_is_read(
    tmp_path, no_data, argv, option, request
):
    if argv == ["--device", "cuda"]:
        request.getfixturevalue("no_gpu")  # learnres without CuPy for this case
    out = tmp_path / "run"
    code, _, err = train_cli("--model", "resnet8", *argv, "--out", out, "--no-progress")
    assert code == 2
    assert option in error_line(err)
    assert not out.exists()


def test_a_cifar_pickle_carrying_code_is_one_line_and_exit_2(tmp_path):
    """Item 6: refused (nothing runs) with one line naming the file, exit 2 (not 1, the
    status of a diverged run), and no run folder left behind."""
    import os
    import pickle

    from tests.train.conftest import write_tiny_cifar

    marker = tmp_path / "pwned"

    class RunsCommand:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    data = write_tiny_cifar(tmp_path / "data")
    batch = data / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps({b"data": RunsCommand(), b"labels": []}, protocol=2))
    out = tmp_path / "run"
    code, _, err = train_cli(
        "--model",
        "resnet8",
        "--iterations",
        "1",
        "--batch-size",
        "8",
        "--data-dir",
        data,
        "--no-download",
        "--out",
        out,
        "--no-progress",
    )
    assert code == 2
    line = error_line(err)
    assert str(batch) in line and "refusing to load global" in line
    assert not marker.exists() and not out.exists()


def test_an_empty_cifar_batch_is_read_as_zero_images(tmp_path):
    """Item 6: Python 3 pickles an empty batch's bytes as ``bytes()``; main refused it as
    tampered with. It reads as a batch of no images, and training uses the others."""
    import pickle

    from tests.train.conftest import write_tiny_cifar

    data = write_tiny_cifar(tmp_path / "data")
    empty = {b"data": np.zeros((0, 3072), np.uint8), b"labels": [], b"batch_label": b"empty"}
    (data / "cifar-10-batches-py" / "data_batch_5").write_bytes(pickle.dumps(empty, protocol=2))
    code, out, err = train_cli(
        "--model",
        "resnet8",
        "--iterations",
        "1",
        "--batch-size",
        "8",
        "--data-dir",
        data,
        "--no-download",
        "--out",
        tmp_path / "run",
        "--no-progress",
        "--no-plot",
    )
    assert code == 0, err
    assert "done: 1 iterations" in out


def test_fashion_mnist_of_the_wrong_image_size_is_refused_leaving_nothing(tmp_path):
    """Item 11: a Fashion-MNIST file of 30x30 images (a consistent IDX header): exit 2 naming
    the file; main trained on and failed later, leaving a config.json behind."""
    from tests.data.official_format import idx

    folder = tmp_path / "data" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 20)):
        size = 30 if split == "train" else 28
        images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(idx(images))
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(idx(labels))
    out = tmp_path / "run"
    code, _, err = train_cli(
        "--model",
        "resnet8",
        "--dataset",
        "fashion-mnist",
        "--iterations",
        "1",
        "--batch-size",
        "8",
        "--data-dir",
        tmp_path / "data",
        "--no-download",
        "--out",
        out,
        "--no-progress",
    )
    assert code == 2
    assert "train-images-idx3-ubyte.gz" in error_line(err) and "(N, 28, 28)" in err
    assert not out.exists()


def test_lr_1e6_diverges_with_exit_1_and_saves_no_nan(tiny_cifar, tmp_path):
    """Item 2: the weights overflow within a few steps; exit 1, and no checkpoint holding
    NaN or infinity is ever written (main saved one as "the last good checkpoint")."""
    from tests.train.tamper import nonfinite

    out = tmp_path / "run"
    with np.errstate(all="ignore"):
        code, _, err = train_cli(
            "--model",
            "resnet8",
            "--lr",
            "1e6",
            "--iterations",
            "60",
            "--batch-size",
            "8",
            "--checkpoint-every",
            "1",
            "--eval-every",
            "60",
            "--data-dir",
            tiny_cifar,
            "--no-download",
            "--out",
            out,
            "--no-progress",
            "--no-plot",
        )
    assert code == 1
    assert "training diverged" in error_line(err) and "the last good checkpoint" in err
    kept = load_checkpoint(out / "checkpoint.npz")  # saved before the weights overflowed
    assert kept["iteration"] >= 1 and nonfinite(kept) == []


def test_two_runs_started_on_one_folder_the_second_exits_2(tiny_cifar, tmp_path):
    """Item 1: on main both runs went ahead in one folder (one's results silently lost, or a
    FileNotFoundError on the shared temporary file). The first claims the folder; the second
    exits 2 naming it and writes nothing; the first finishes its run."""

    out = tmp_path / "run"
    argv = [
        "--model",
        "resnet8",
        "--batch-size",
        "8",
        "--eval-every",
        "1000",
        "--data-dir",
        tiny_cifar,
        "--no-download",
        "--out",
        out,
        "--no-progress",
        "--no-plot",
    ]
    first = subprocess.Popen(
        [sys.executable, "-m", "learnres", "train", *map(str, argv), "--iterations", "2000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert first.stdout.readline().startswith("training resnet8")  # it has the folder
        deadline = time.monotonic() + 120
        while not (out / "config.json").exists():  # and is training
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        code, _, err = train_cli(*argv, "--iterations", "2")
        assert code == 2
        assert f"in use by another learnres run (pid {first.pid}" in error_line(err)
        saved = out / "checkpoint.npz"  # if any, the first run's
        assert not saved.exists() or '"iterations": 2000' in load_checkpoint(saved)["config"]
    finally:
        first.send_signal(signal.SIGINT)
        text, _ = first.communicate(timeout=120)
    assert first.returncode == 130, text
    assert '"iterations": 2000' in (out / "config.json").read_text()


@pytest.mark.parametrize("where", ["file", "under a file"])
def test_out_that_is_a_file_or_under_one_exits_2_before_reading_data(tmp_path, monkeypatch, where):
    """Item 7: one line naming the path, exit 2, before any data is read."""
    import learnres.train.run

    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the folder was checked")

    monkeypatch.setattr(learnres.train.run, "load_dataset", no_data)
    (tmp_path / "afile").write_text("not a folder")
    out = tmp_path / "afile" if where == "file" else tmp_path / "afile" / "run"
    code, _, err = train_cli(*_TINY, "--data-dir", tmp_path, "--out", out)
    assert code == 2
    assert str(tmp_path / "afile") in error_line(err) and "is a file" in err
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_a_full_disk_exits_2_and_keeps_the_previous_checkpoint(tiny_cifar, tmp_path, monkeypatch):
    """Item 7: the disk fills during a checkpoint write: one line, exit 2, the previous
    checkpoint intact and no temporary file left."""
    out = tmp_path / "run"
    argv = [
        *_TINY,
        "--iterations",
        "4",
        "--checkpoint-every",
        "2",
        "--data-dir",
        tiny_cifar,
        "--out",
        out,
    ]
    savez, calls = np.savez, []

    def fills_the_disk(f, **arrays):
        calls.append(1)
        if len(calls) == 1:
            return savez(f, **arrays)
        f.write(b"PK\x03\x04 a part")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt.np, "savez", fills_the_disk)
    code, _, err = train_cli(*argv)
    assert code == 2 and "No space left on device" in error_line(err)
    assert load_checkpoint(out / "checkpoint.npz")["iteration"] == 2
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_device_n_is_taken_or_refused_with_the_gpus_there_are(tmp_path, no_data, standin):
    """--device cuda:N: refused in one line (exit 2, nothing written) when the machine has no
    GPU N; on a machine with two GPUs, cuda:1 passes the option check."""
    from learnres.train.cli import _device

    out = tmp_path / "run"
    code, _, err = train_cli(
        "--model", "resnet8", "--device", "cuda:1", "--out", out, "--no-progress"
    )
    assert code == 2 and "--device" in error_line(err) and "1 CUDA device" in error_line(err)
    assert not out.exists()
    standin.set_device_count(2)
    try:
        assert _device("cuda:1") == "cuda:1"
    finally:
        standin.set_device_count(1)


def test_processes_2_trains_says_so_and_is_kept_in_the_checkpoint(tiny_cifar, tmp_path):
    out = tmp_path / "run"
    argv = ["--model", "resnet8", "--iterations", "3", "--batch-size", "8", "--data-dir"]
    more = ["--no-download", "--out", out, "--no-progress", "--no-plot", "--processes", "2"]
    code, printed, err = train_cli(*argv, tiny_cifar, *more)
    assert code == 0, err
    assert "(cpu, float32, 2 processes)" in printed + err
    kept = load_checkpoint(out / "checkpoint.npz")
    assert kept["iteration"] == 3 and json.loads(kept["config"])["processes"] == 2
