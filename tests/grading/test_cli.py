"""``learnres grade`` and ``grade()``: finding the exercises and the grader, and the table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from learnres.grading.cli import _grader, exercises_folder, grade

REPO = Path(__file__).resolve().parents[2]


def test_the_exercises_folder_is_found_upwards(tmp_path, monkeypatch):
    monkeypatch.delenv("LEARNRES_EXERCISES", raising=False)
    monkeypatch.chdir(REPO / "chapters" if (REPO / "chapters").is_dir() else REPO)
    assert exercises_folder() == REPO / "exercises"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no exercises folder"):
        exercises_folder()
    monkeypatch.setenv("LEARNRES_EXERCISES", str(REPO / "exercises"))
    assert exercises_folder() == REPO / "exercises"


@pytest.mark.parametrize("which", [3, "3", "ex3", "ex3_batchnorm", "test_ex3_batchnorm.py"])
def test_an_exercise_is_named_many_ways(which):
    assert _grader(REPO / "exercises", which).name == "test_ex3_batchnorm.py"


def test_an_unknown_exercise_says_which_there_are():
    with pytest.raises(ValueError, match="no exercise 'ex42'.*ex1_autograd"):
        _grader(REPO / "exercises", "ex42")
    with pytest.raises(ValueError, match="expected a number or a name"):
        _grader(REPO / "exercises", "batchnorm")


def test_grade_prints_the_score_table_of_one_exercise(tmp_path, capsys):
    folder = tmp_path / "exercises"
    shutil.copytree(REPO / "exercises", folder, ignore=shutil.ignore_patterns("__pycache__"))
    code = grade("ex6", folder, seed=1)
    out = capsys.readouterr().out
    assert code == 1  # the stubs fail
    assert "learnres score" in out and "6. SGD and the schedule" in out
    assert "Total: 0/12 points" in out and "1. Autograd" not in out


def test_the_command_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "learnres", "grade", "--hint", "8.2", "--level", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and "the formula" in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "learnres", "grade", "ex42", "--folder", str(REPO / "exercises")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "no exercise 'ex42'" in run.stderr
