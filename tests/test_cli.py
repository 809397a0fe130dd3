"""The ``learnres`` command line and the demo it runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from learnres.cli import main
from learnres.demo import run_demo


def test_demo_agrees_with_torch():
    rows = run_demo(seed=3, batch_size=5)
    assert [name for name, _, _ in rows][:2] == ["loss", "dL/dx"]
    assert max(err for _, _, err in rows) < 1e-10


def test_demo_command_prints_the_table(capsys):
    assert main(["demo", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "dL/dW1" in out and "OK: worst relative error" in out


def test_unknown_command_lists_the_valid_ones(capsys):
    with pytest.raises(SystemExit):
        main(["trian"])
    assert "unknown command 'trian'; choose from demo, bench" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "learnres", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in result.stdout and "train" in result.stdout
