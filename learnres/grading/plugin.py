"""The pytest plugin that scores exercises: ``@pytest.mark.points(n)`` and a score table.

Loaded in every pytest run of an environment where learnres is installed (it is a ``pytest11``
entry point), so it stays silent unless a collected test carries a ``points`` marker.

Usage in a grader::

    EXERCISE = "1. Autograd"          # optional; otherwise the file name, minus "test_"

    @pytest.mark.points(2)
    def test_add_backward(): ...

    @pytest.mark.points(1)            # a parametrised test scores each case: 3 x 1 point
    @pytest.mark.parametrize("shape", [(2,), (2, 3), (2, 3, 4)])
    def test_sum_backward(shape): ...

At the end of the run::

    ================================ learnres score ================================
    exercise      tests   points
    1. Autograd   3/4     3/5
    Total: 3/5 points

``pytest --gradescope-json results/results.json`` also writes Gradescope's ``results.json``
(see ``learnres.grading.gradescope``). The scoring rules (skips earn 0 but count toward the
total, setup and teardown errors fail) are in ``learnres.grading.scoreboard``.

Runs under pytest-xdist are not supported: the workers hold the test items, so the controller
never sees the markers.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from learnres.grading.gradescope import gradescope_results, write_json_atomic
from learnres.grading.scoreboard import Scoreboard

__all__ = ["GradingPlugin", "exercise_name", "marker_points", "readable_name"]

MARKER_HELP = (
    "points(n): this test is worth n points in the learnres score table "
    "(each case of a parametrised test is worth n)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--gradescope-json PATH``."""
    group = parser.getgroup("learnres-grading", "learnres exercise grading")
    group.addoption(
        "--gradescope-json",
        dest="gradescope_json",
        metavar="PATH",
        default=None,
        help="write Gradescope's autograder results.json to PATH (graded tests: points marker)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``points`` marker and this run's ``GradingPlugin``."""
    config.addinivalue_line("markers", MARKER_HELP)
    config.pluginmanager.register(GradingPlugin(config), GradingPlugin.NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop this run's ``GradingPlugin`` (pytester runs many configs in one process)."""
    plugin = config.pluginmanager.get_plugin(GradingPlugin.NAME)
    if plugin is not None:
        config.pluginmanager.unregister(plugin)


def marker_points(item: pytest.Item) -> float | None:
    """The n of the item's closest ``@pytest.mark.points(n)``, or None when it has none.

    Raises:
        pytest.UsageError: if the marker does not hold exactly one positive number.
    """
    marker = item.get_closest_marker("points")
    if marker is None:
        return None
    values = list(marker.args) + list(marker.kwargs.values())
    value = values[0] if len(values) == 1 else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.points expects one positive number, "
            f"got args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    return value


def exercise_name(item: pytest.Item) -> str:
    """The exercise an item is scored in.

    The test module's ``EXERCISE`` string if it defines one, else the file name without its
    ``test_`` prefix (``test_ex1_autograd.py`` -> ``ex1_autograd``). Items that are not Python
    functions (notebooks, custom items) have no module and use their file name.
    """
    module = item.getparent(pytest.Module)
    label = getattr(module.obj, "EXERCISE", None) if module is not None else None
    if isinstance(label, str) and label.strip():
        return label.strip()
    path = getattr(item, "path", None)
    if path is None:
        return item.nodeid.split("::", 1)[0]
    stem = Path(path).stem
    return stem.removeprefix("test_") or stem


def readable_name(item: pytest.Item, exercise: str) -> str:
    """A readable name: ``"<exercise>: <the nodeid after the file>"``, e.g.
    ``"1. Autograd: TestAdd::test_backward[2-3]"``; the whole nodeid if it has no ``::``."""
    _, sep, rest = item.nodeid.partition("::")
    return f"{exercise}: {rest}" if sep else item.nodeid


class GradingPlugin:
    """The hooks of one pytest run, feeding a ``Scoreboard``.

    Attributes:
        board: the run's scores.
        json_path: where ``results.json`` goes (absolute), or None.
    """

    NAME = "learnres-grading-run"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.board = Scoreboard()
        option = config.getoption("gradescope_json", None)
        # Resolved now: pytest changes back to its start folder before sessionfinish.
        self.json_path = Path(config.invocation_params.dir, option).resolve() if option else None
        self._start = time.monotonic()
        self._collect_only = bool(config.getoption("collectonly", False))

    def pytest_sessionstart(self) -> None:
        self._start = time.monotonic()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Remember files that failed to collect: their points are missing from the total."""
        if report.failed:
            self.board.add_collection_error(report.nodeid, report.longreprtext)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Register every selected item that carries a ``points`` marker."""
        for item in session.items:
            points = marker_points(item)
            if points is None:
                continue
            exercise = exercise_name(item)
            self.board.add_test(item.nodeid, readable_name(item, exercise), exercise, points)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Score one phase (setup, call or teardown) of one test."""
        if report.nodeid not in self.board:
            return
        if hasattr(report, "wasxfail"):
            # xfail (and a non-strict xpass): an expected failure earns nothing either way.
            text = f"xfail: {report.wasxfail}" if report.wasxfail else "xfail"
            self.board.record(report.nodeid, report.when, "skipped", text)
        elif report.skipped:
            self.board.record(report.nodeid, report.when, "skipped", _skip_reason(report))
        else:
            self.board.record(report.nodeid, report.when, report.outcome, report.longreprtext)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Print the score table, only when graded tests were collected."""
        if not len(self.board) or self._collect_only:
            return
        terminalreporter.write_sep("=", "learnres score")
        for line in self.board.table_lines():
            terminalreporter.write_line(line)

    def pytest_sessionfinish(self) -> None:
        """Write ``results.json`` when ``--gradescope-json`` was given (even with no points)."""
        if self.json_path is None or self._collect_only:
            return
        results = gradescope_results(self.board, time.monotonic() - self._start)
        write_json_atomic(self.json_path, results)


def _skip_reason(report: pytest.TestReport) -> str:
    """``"Skipped: why"`` from a skip report (its longrepr is ``(path, line, reason)``)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return report.longreprtext
