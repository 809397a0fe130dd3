"""learnres.lectures.experiments.run_torchrun: chapter 6's DDP run, once more only when a
process was killed by a signal. Real torchrun launches of a one-process script that aborts
(SIGABRT, as gloo did) or fails on its own, counted by the files it leaves."""

from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("torch.distributed.run")

from learnres.lectures import run_torchrun

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path

    out = Path(sys.argv[sys.argv.index("--out") + 1])
    count = Path(sys.argv[1])
    count.write_text(count.read_text() + "x" if count.exists() else "x")
    if len(count.read_text()) <= int(sys.argv[2]):  # the first attempts fail ...
        os.abort() if sys.argv[3] == "abort" else sys.exit(3)
    out.mkdir()
    print("wrote", out.name)
    """
)


def _command(tmp_path, failures: int, how: str) -> list[str]:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    count = tmp_path / "attempts"
    launcher = ["torchrun", "--standalone", "--nproc_per_node", "1"]
    job = [str(script), str(count), str(failures), how, "--out", str(tmp_path / "run")]
    return launcher + job


def _attempts(tmp_path) -> int:
    return len((tmp_path / "attempts").read_text())


def test_a_process_killed_by_a_signal_is_run_once_more_into_a_fresh_folder(tmp_path, capsys):
    done, out = run_torchrun(_command(tmp_path, failures=1, how="abort"), timeout=300)
    assert _attempts(tmp_path) == 2
    assert out == tmp_path / "run-retry" and out.is_dir()
    assert "wrote run-retry" in done.stdout
    said = capsys.readouterr().out
    assert "killed by a signal (exit codes [-6])" in said and "run-retry" in said


def test_a_process_that_fails_by_itself_is_not_retried(tmp_path):
    with pytest.raises(RuntimeError, match="failed"):
        run_torchrun(_command(tmp_path, failures=1, how="exit"), timeout=300)
    assert _attempts(tmp_path) == 1


def test_a_second_abort_raises_with_the_end_of_stderr(tmp_path):
    with pytest.raises(RuntimeError, match=r"(?s)failed:.*exitcode\s*: -6"):
        run_torchrun(_command(tmp_path, failures=2, how="abort"), timeout=300)
    assert _attempts(tmp_path) == 2


def test_a_run_that_succeeds_runs_once(tmp_path):
    done, out = run_torchrun(_command(tmp_path, failures=0, how="abort"), timeout=300)
    assert _attempts(tmp_path) == 1 and out == tmp_path / "run" and "wrote run" in done.stdout
