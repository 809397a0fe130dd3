"""Gradescope's autograder ``results.json``, built from a ``Scoreboard``.

Format (Gradescope's "Autograder Specifications", section "Output format",
https://gradescope-autograders.readthedocs.io/en/latest/specs/)::

    {"score": 40, "execution_time": 12, "output": "...", "visibility": "visible",
     "stdout_visibility": "visible",
     "tests": [{"name": "...", "score": 2, "max_score": 2, "status": "passed",
                "output": "...", "visibility": "visible"}, ...]}

The top-level ``score`` overrides the sum of the tests' scores in Gradescope, so both are kept
equal here. The assignment's maximum is set in Gradescope's own settings (the spec has no
top-level ``max_score``); each test carries its own ``max_score``. Gradescope knows only two test
statuses, so a skipped or not-run test is ``"failed"`` (it earned 0) with its reason as output.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from learnres.grading.scoreboard import Scoreboard, trim_text

__all__ = ["gradescope_results", "write_json_atomic"]

_STATUS_NOTE = {
    "skipped": "This test was skipped, so it earned none of its points.",
    "not run": "This test never ran (the run stopped early), so it earned none of its points.",
}


def gradescope_results(board: Scoreboard, execution_time: float | None = None) -> dict[str, Any]:
    """The ``results.json`` document for the tests recorded in ``board``.

    Files that could not be collected become 0/0 tests whose output is the import error, so a
    student whose module does not import sees why on Gradescope.
    """
    tests: list[dict[str, Any]] = []
    for test in board.tests:
        output = test.output
        if test.status in _STATUS_NOTE:
            output = f"{_STATUS_NOTE[test.status]}\n{output}".rstrip("\n")
        tests.append(
            {
                "name": test.name,
                "score": _number(test.points),
                "max_score": _number(test.max_points),
                "status": "passed" if test.status == "passed" else "failed",
                "output": trim_text(output),
                "visibility": "visible",
            }
        )
    for nodeid, text in board.collection_errors:
        tests.append(
            {
                "name": f"could not collect {nodeid}",
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": trim_text(text),
                "visibility": "visible",
            }
        )
    earned, _ = board.total()
    results: dict[str, Any] = {
        "score": _number(earned),
        "output": "\n".join(board.table_lines()) if len(board) else "No graded tests were run.",
        "visibility": "visible",
        "stdout_visibility": "visible",
        "tests": tests,
    }
    if execution_time is not None:
        results["execution_time"] = round(execution_time)
    return results


def _number(value: float) -> int | float:
    """An int when the value is whole (``2`` rather than ``2.0`` in the JSON), else the float."""
    return int(value) if float(value).is_integer() else round(value, 4)


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that readers never see a half-written file.

    The JSON goes to a temporary file in the same folder, which then replaces ``path`` in one
    step (``os.replace`` is atomic on one file system). Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp_name, 0o644)  # mkstemp makes it owner-only; results are not secret
        with os.fdopen(handle, "w", encoding="utf-8") as tmp:
            json.dump(data, tmp, indent=2, ensure_ascii=False)
            tmp.write("\n")
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
