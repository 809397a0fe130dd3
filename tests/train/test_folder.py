"""Runs own their folder: one run per folder, whole files, clear refusals of bad folders."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from learnres.train import checkpoint as ckpt
from learnres.train import folder as run_folder
from learnres.train.checkpoint import load_checkpoint, save_checkpoint
from learnres.train.folder import (
    LOCK_NAME,
    RunFolderBusy,
    RunFolderError,
    atomic_write,
    claim_run_folder,
)
from tests.train.conftest import error_line, train_cli

TINY = [
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

_HOLDER = textwrap.dedent("""
    import sys, time
    from learnres.train.folder import claim_run_folder
    lock = claim_run_folder(sys.argv[1])
    print("claimed", flush=True)
    time.sleep(120)
""")


def _hold(path):
    """A second process that claims ``path`` and sleeps; returns once it holds the claim."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "claimed"
    return proc


def test_a_second_run_on_a_claimed_folder_exits_2_naming_the_first(tiny_cifar, tmp_path):
    """Item 1: while another process holds the folder, ``learnres train`` there (new or
    --resume) exits 2 before reading data or writing anything, naming that process."""
    out = tmp_path / "run"
    holder = _hold(out)
    try:
        code, _, err = train_cli(*TINY, "--data-dir", tiny_cifar, "--out", out)
        assert code == 2
        line = error_line(err)
        assert f"in use by another learnres run (pid {holder.pid}" in line and "started" in line
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written
        code, _, err = train_cli("--out", out, "--resume", "--no-progress")
        assert code == 2 and f"pid {holder.pid}" in error_line(err)
    finally:
        holder.kill()
        holder.wait()
    code, _, err = train_cli(*TINY, "--data-dir", tiny_cifar, "--out", out)
    assert code == 0, err
    assert LOCK_NAME not in {p.name for p in out.iterdir()}  # released on exit


def test_kill_9_frees_the_folder(tmp_path):
    """The OS drops a flock when its process dies, however it dies: a run killed with
    SIGKILL leaves its lock file, but not its lock."""
    holder = _hold(tmp_path / "run")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / "run" / LOCK_NAME).exists()
    with claim_run_folder(tmp_path / "run") as claim:
        assert claim.held
        with pytest.raises(RunFolderBusy, match=f"pid {os.getpid()}"):
            claim_run_folder(tmp_path / "run")  # a second claim, even from this process
    assert list((tmp_path / "run").iterdir()) == []  # the released claim removed the file


def test_two_writers_of_one_file_never_share_a_temporary(tmp_path, monkeypatch):
    """Item 1's FileNotFoundError: two saves of one checkpoint overlap (the second starts
    while the first is writing). Each writes its own temporary file, both succeed, and the
    file holds one whole checkpoint."""
    path = tmp_path / "checkpoint.npz"
    savez = np.savez
    nested = []

    def overlapping(f, **arrays):
        if not nested:
            nested.append(True)
            save_checkpoint(path, {"iteration": 2, "w": np.full(3, 2.0)})  # the other writer
        savez(f, **arrays)

    monkeypatch.setattr(ckpt.np, "savez", overlapping)
    save_checkpoint(path, {"iteration": 1, "w": np.full(3, 1.0)})
    assert load_checkpoint(path)["iteration"] == 1  # the last rename wins, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]


def test_a_killed_writers_temporary_is_removed_by_the_next_claim(tmp_path):
    (tmp_path / "run").mkdir()
    stale = tmp_path / "run" / ".checkpoint.npz.4242-0123abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    keep = tmp_path / "run" / ".notes.tmp"  # not ours: left alone
    keep.write_text("mine")
    with claim_run_folder(tmp_path / "run"):
        assert not stale.exists() and keep.exists()


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders"
)
def test_a_read_only_out_exits_2(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        code, _, err = train_cli(*TINY, "--data-dir", tmp_path, "--out", tmp_path / "ro")
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert code == 2 and "Permission denied" in error_line(err)


def test_an_unwritable_out_exits_2_and_leaves_nothing(tmp_path, monkeypatch):
    """Item 7, for any user (root ignores permissions): the folder refuses the lock file
    (here a read-only file system), so the claim fails: exit 2, one line, the folder it made
    removed again."""
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).endswith(LOCK_NAME):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(run_folder.os, "open", read_only)
    with pytest.raises(RunFolderError, match="Read-only file system"):
        claim_run_folder(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()
    code, _, err = train_cli(*TINY, "--data-dir", tmp_path, "--out", tmp_path / "a")
    assert code == 2 and "Read-only file system" in error_line(err)
    assert not (tmp_path / "a").exists()


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")

    def fails(f):
        f.write(b"new, half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(path, fails)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"
