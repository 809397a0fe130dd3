"""Gradescope's results.json from a ``Scoreboard``, and the atomic JSON write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learnres.grading import PHASES, Scoreboard, gradescope_results, write_json_atomic


def make_board() -> Scoreboard:
    board = Scoreboard()
    board.add_test("t.py::test_ok", "ex1: test_ok", "ex1", 2)
    board.add_test("t.py::test_bad", "ex1: test_bad", "ex1", 0.5)
    board.add_test("t.py::test_skip", "ex1: test_skip", "ex1", 1)
    for phase in PHASES:
        board.record("t.py::test_ok", phase, "passed")
    board.record("t.py::test_bad", "setup", "passed")
    board.record("t.py::test_bad", "call", "failed", "E   assert 1 == 2\n" + "x" * 9_000)
    board.record("t.py::test_skip", "setup", "skipped", "Skipped: later")
    return board


def test_gradescope_results_document() -> None:
    results = gradescope_results(make_board(), execution_time=12.4)
    assert {k: results[k] for k in ("score", "visibility", "stdout_visibility")} == {
        "score": 2,
        "visibility": "visible",
        "stdout_visibility": "visible",
    }
    assert results["execution_time"] == 12
    assert results["output"].endswith("Total: 2/3.5 points")
    ok, bad, skip = results["tests"]
    assert ok == {
        "name": "ex1: test_ok",
        "score": 2,
        "max_score": 2,
        "status": "passed",
        "output": "",
        "visibility": "visible",
    }
    assert (bad["score"], bad["max_score"], bad["status"]) == (0, 0.5, "failed")
    assert len(bad["output"]) < 5_100 and bad["output"].endswith("x" * 100)
    assert (skip["score"], skip["max_score"], skip["status"]) == (0, 1, "failed")
    assert skip["output"].endswith("Skipped: later")
    json.dumps(results)  # plain JSON types only


def test_write_json_atomic_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "results.json"
    write_json_atomic(path, {"score": 1})
    write_json_atomic(path, {"score": 2})
    assert json.loads(path.read_text()) == {"score": 2}
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_write_json_atomic_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json_atomic(path, {"score": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"score": 2, "oops": object()})  # fails half-way through
    assert json.loads(path.read_text()) == {"score": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
