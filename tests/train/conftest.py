"""Fixtures of the training tests: a tiny CIFAR-10 folder in the official format, and a way
to call ``learnres train`` in-process and see its exit status and output."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from learnres.cli import main as learnres
from tests.data.official_format import cifar10_files, py3_pickle


def write_tiny_cifar(folder: Path) -> Path:
    """``folder/cifar-10-batches-py/`` with 5 x 20 training and 20 test images (random
    pixels, official format): a run on it takes a fraction of a second."""
    files, _ = cifar10_files(n_per_batch=20, n_test=20, pickler=py3_pickle)
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    for name, data in files.items():
        (batches / name).write_bytes(data)
    return folder


@pytest.fixture(scope="session")
def tiny_cifar(tmp_path_factory) -> Path:
    return write_tiny_cifar(tmp_path_factory.mktemp("tiny-cifar"))


def train_cli(*argv) -> tuple[int, str, str]:
    """``learnres train ARGV`` in this process: (exit status, stdout, stderr). An argparse
    error's SystemExit becomes its status; any other exception propagates (a traceback)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = learnres(["train", *map(str, argv)])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def error_line(stderr: str) -> str:
    """The one error line of a refused command (argparse adds its usage lines above it)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("learnres train: error: ")]
    assert len(errors) == 1, stderr
    assert lines[-1] == errors[0], stderr  # nothing after it
    return errors[0]
