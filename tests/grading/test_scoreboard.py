"""The scoring rules of ``learnres.grading.scoreboard``, without running pytest inside pytest."""

from __future__ import annotations

import math

import pytest

from learnres.grading import PHASES, Scoreboard, format_points, trim_text


def run_test(board: Scoreboard, nodeid: str, **outcomes: str) -> None:
    """Report all three phases of a test; each phase passes unless given another outcome."""
    for phase in PHASES:
        board.record(nodeid, phase, outcomes.get(phase, "passed"), f"{phase} text")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (14, "14"),
        (14.0, "14"),
        (2.5, "2.5"),
        (1 / 3, "0.33"),
        (2 / 3, "0.67"),
        (0.1 + 0.2, "0.3"),
        (1.999, "2"),
        (0, "0"),
    ],
)
def test_format_points(value: float, text: str) -> None:
    assert format_points(value) == text


def test_trim_text_keeps_the_tail() -> None:
    text = "start " + "x" * 100 + " E   assert 3 == 4"
    trimmed = trim_text(text, limit=30)
    assert trimmed.endswith("x" * 12 + " E   assert 3 == 4")
    assert trimmed.startswith(f"[... {len(text) - 30} characters trimmed ...]\n")
    assert trim_text("short", limit=30) == "short"


@pytest.mark.parametrize(
    ("outcomes", "status", "points"),
    [
        ({}, "passed", 3.0),
        ({"call": "failed"}, "failed", 0.0),
        ({"setup": "failed"}, "failed", 0.0),
        ({"teardown": "failed"}, "failed", 0.0),
        ({"call": "skipped"}, "skipped", 0.0),
        ({"setup": "skipped"}, "skipped", 0.0),
        # A skip inside the test followed by a broken teardown is a failure.
        ({"call": "skipped", "teardown": "failed"}, "failed", 0.0),
        # An outcome from another plugin (pytest-rerunfailures) is not a result.
        ({"call": "rerun"}, "not run", 0.0),
    ],
)
def test_status_and_points(outcomes: dict[str, str], status: str, points: float) -> None:
    board = Scoreboard()
    board.add_test("t.py::test_a", "test_a", "ex1", 3)
    run_test(board, "t.py::test_a", **outcomes)
    (test,) = board.tests
    assert (test.status, test.points) == (status, points)


def test_a_test_needs_all_three_phases_to_pass() -> None:
    board = Scoreboard()
    board.add_test("t.py::test_a", "test_a", "ex1", 3)
    assert board.tests[0].status == "not run"
    board.record("t.py::test_a", "setup", "passed")
    board.record("t.py::test_a", "call", "passed")
    assert board.total() == (0.0, 3.0)  # teardown has not reported yet
    board.record("t.py::test_a", "teardown", "passed")
    assert board.total() == (3.0, 3.0)


def test_failure_output_names_the_phase() -> None:
    board = Scoreboard()
    board.add_test("t.py::test_a", "test_a", "ex1", 1)
    run_test(board, "t.py::test_a", call="failed", teardown="failed")
    assert board.tests[0].output == "call text\n\n[error in teardown]\nteardown text"


def test_reports_for_ungraded_tests_are_ignored() -> None:
    board = Scoreboard()
    run_test(board, "t.py::test_not_graded")
    assert len(board) == 0
    assert board.total() == (0.0, 0.0)


@pytest.mark.parametrize(
    ("points", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
        (True, TypeError),
        ("2", TypeError),
        (None, TypeError),
    ],
)
def test_add_test_rejects_bad_points(points: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="t.py::test_a: points must be a positive number"):
        Scoreboard().add_test("t.py::test_a", "test_a", "ex1", points)  # type: ignore[arg-type]


def test_exercises_group_in_collection_order_and_table_lines() -> None:
    board = Scoreboard()
    board.add_test("b.py::t1", "t1", "2. Layers", 2)
    board.add_test("a.py::t1", "t1", "1. Autograd", 1.5)
    board.add_test("b.py::t2", "t2", "2. Layers", 4)
    board.add_test("b.py::t3", "t3", "2. Layers", 1)
    run_test(board, "b.py::t1")
    run_test(board, "a.py::t1", call="failed")
    run_test(board, "b.py::t2")
    run_test(board, "b.py::t3", call="skipped")
    board.add_collection_error("c.py", "ImportError")

    assert [(e.exercise, e.passed, e.tests, e.points, e.max_points) for e in board.exercises()] == [
        ("2. Layers", 2, 3, 6.0, 7.0),
        ("1. Autograd", 0, 1, 0.0, 1.5),
    ]
    assert board.table_lines() == [
        "exercise      tests   points",
        "2. Layers     2/3     6/7",
        "1. Autograd   0/1     0/1.5",
        "(1 graded test skipped: no points earned, but counted in the total)",
        "(1 file could not be collected: any points in it are missing from the total)",
        "Total: 6/8.5 points",
    ]
