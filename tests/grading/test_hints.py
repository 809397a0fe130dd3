"""Hints in levels (learnres.grading.hints), and how students ask for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from learnres.grading import hint
from learnres.grading.exercises import EXERCISES
from learnres.grading.hints import HINTS, LEVELS, format_hints, hints_for, unknown_parts
from learnres.grading.texts import PART_TEXTS

REPO = Path(__file__).resolve().parents[2]
PARTS = [p.number for ex in EXERCISES for p in ex.parts]


def test_every_part_has_three_levels_of_hints_and_nothing_else_has():
    assert set(HINTS) == set(PARTS)
    for part, levels in HINTS.items():
        assert len(levels) == len(LEVELS) == 3, part
        assert len(set(levels)) == 3 and all(len(text) > 20 for text in levels), part


def test_levels_are_shown_one_step_at_a_time():
    assert hints_for("3.3") == [HINTS["3.3"][0]]
    assert hints_for("3.3", 3) == list(HINTS["3.3"])
    text = format_hints(["3.3", "6.1:2"])
    assert "Hints for part 3.3 (level 1 of 3)" in text and "--hint 3.3:2" in text
    assert "Hints for part 6.1 (levels 1-2 of 3)" in text and "the formula" not in text
    with pytest.raises(ValueError, match="level must be 1, 2 or 3"):
        hints_for("3.3", 4)
    with pytest.raises(KeyError, match="no hints for part '9.9'"):
        hints_for("9.9")
    assert unknown_parts(["3.3", "9.9:2"]) == ["9.9:2"]


def test_hint_prints(capsys):
    hint("7.1", 2)
    out = capsys.readouterr().out
    assert HINTS["7.1"][1][:30] in out.replace("\n     ", " ")


def test_the_stubs_say_how_to_ask_and_do_not_print_the_formulas():
    for ex in EXERCISES:
        text = (REPO / "exercises" / ex.filename).read_text()
        for part in ex.parts:
            assert f"--hint {part.number}``" in text and f'hint("{part.number}")' in text
    # the formulas the issue found printed word for word are gone from the stubs
    bn = (REPO / "exercises" / "ex3_batchnorm.py").read_text()
    assert "g - mean(g) - x_hat * mean(g * x_hat)" not in bn
    assert "3.3" in PART_TEXTS
    sgd = (REPO / "exercises" / "ex6_sgd.py").read_text()
    assert "buf = momentum * buf + (1 - dampening) * d_p     (later steps)" not in sgd
    assert "d_p = grad + weight_decay * p" not in sgd


def test_pytest_hint_option_prints_and_stops():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "exercises",
            "--hint",
            "4.3",
            "--hint-level",
            "2",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Hints for part 4.3 (levels 1-2 of 3)" in run.stdout
    assert "learnres score" not in run.stdout  # no tests ran
    bad = subprocess.run(
        [sys.executable, "-m", "pytest", "exercises", "--hint", "12.1", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 4 and "no hints for part '12.1'" in bad.stdout
