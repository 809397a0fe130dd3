"""The harness (learnres.grading.harness): recorded expected values, seeds, and the child
process that runs a submission (timeouts, its output, its errors)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from learnres.grading.harness import Cases, seed_for

REPO = Path(__file__).resolve().parents[2]


def test_expected_values_are_recorded_and_replayed(tmp_path):
    x = np.arange(4.0)
    record = Cases("record", seed=5)
    assert record.value("t.py::a", 0, lambda a: {"y": a * 2}, (x,), {})["y"].tolist() == [
        0,
        2,
        4,
        6,
    ]
    record.save(tmp_path / "cases.json.gz")
    replay = Cases.load(tmp_path / "cases.json.gz")
    assert replay.mode == "replay" and replay.seed == 5
    never = lambda a: pytest.fail("a replayed value is not computed")  # noqa: E731
    assert replay.value("t.py::a", 0, never, (x,), {})["y"].tolist() == [0, 2, 4, 6]
    with pytest.raises(RuntimeError, match="recorded for other inputs"):
        replay.value("t.py::a", 0, never, (x + 1,), {})
    with pytest.raises(RuntimeError, match="no recorded value number 2"):
        replay.value("t.py::a", 1, never, (x,), {})


def test_seeds_are_per_run_and_per_test():
    assert seed_for(1, "a") == seed_for(1, "a")
    assert len({seed_for(1, "a"), seed_for(2, "a"), seed_for(1, "b")}) == 3


GRADER = """
import numpy as np
import pytest

from learnres.grading.checks import check_close

EXERCISE = "1. Autograd"
MODULE = "ex1_autograd"


def run_sum_to(module, g, shape):
    return module.sum_to(np.array(g), tuple(shape))


@pytest.mark.points(1)
@pytest.mark.timeout(4)
def test_slow(exercise):
    exercise.run(run_sum_to, np.ones((2, 3, 4)), (4,))


@pytest.mark.points(1)
@pytest.mark.timeout(60)
def test_after_the_slow_one(exercise):
    got = exercise.run(run_sum_to, np.ones((2, 3)), (3,))
    check_close("sum_to", got, np.full(3, 2.0))


@pytest.mark.points(1)
@pytest.mark.timeout(60)
def test_an_error(exercise):
    exercise.run(run_sum_to, np.ones((2, 3)), (5,))
"""

SUBMISSION = """
def sum_to(g, shape):
    print("hello from the child", g.shape)
    if g.ndim == 3:
        while True:
            pass
    if shape == (5,):
        raise ValueError("shape (5,) is not what I expected")
    return g.sum(axis=0)
"""


def test_the_child_process_times_out_prints_and_reports_errors(tmp_path):
    folder = tmp_path / "exercises"
    folder.mkdir()
    for name in ("conftest.py", "pytest.ini", "grading.json"):
        shutil.copyfile(REPO / "exercises" / name, folder / name)
    stub = (REPO / "exercises" / "ex1_autograd.py").read_text()
    (folder / "ex1_autograd.py").write_text(stub + textwrap.dedent(SUBMISSION))
    (folder / "test_ex1_autograd.py").write_text(GRADER)
    results = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(folder),
            "-rP",
            "-p",
            "no:cacheprovider",
            "--gradescope-json",
            str(results),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tests = {t["name"].split(": ")[1]: t for t in json.loads(results.read_text())["tests"]}
    assert "your code took longer than 3 s" in tests["test_slow"]["output"], run.stdout
    assert tests["test_after_the_slow_one"]["status"] == "passed", run.stdout[-3000:]
    error = tests["test_an_error"]["output"]
    assert "Your code raised an error" in error and "ValueError: shape (5,)" in error
    assert "ex1_autograd.py" in error  # the traceback points into the student's file
    assert "hello from the child (2, 3)" in run.stdout  # the child's prints, in the test's output
    assert "your code runs in a separate process" in run.stdout
