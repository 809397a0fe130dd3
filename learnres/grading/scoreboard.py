"""The scoreboard: which graded tests ran, how each one ended, and the points they earned.

This module knows nothing about pytest. The plugin (``learnres.grading.plugin``) feeds it plain
strings: a test is registered with ``add_test`` when it is collected, and every phase of its run
(``"setup"``, ``"call"``, ``"teardown"``) is reported with ``record``. That keeps the scoring
rules small enough to read in one sitting and easy to unit-test.

Scoring rules
-------------
- A test earns its points only if its setup, call and teardown all passed.
- An error in setup or teardown (a broken fixture) is a failure: 0 points.
- A skipped test, and an xfail-marked test, earns 0 points but its points still count toward
  the possible total. A graded test that does not run cannot be credited, and dropping it from
  the total would raise the percentage of a submission that skips (or crashes before) the hard
  tests: ``Total: 4/4`` for a run that skipped the other 12 points would be a lie.
- A test that was selected but never reported (the run stopped early, e.g. ``-x``) is
  ``"not run"``: 0 points, counted in the total, for the same reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = [
    "PHASES",
    "ExerciseScore",
    "GradedTest",
    "Scoreboard",
    "format_points",
    "trim_text",
]

PHASES: tuple[str, ...] = ("setup", "call", "teardown")
"""The three phases pytest runs for every test, in order."""

OUTPUT_LIMIT = 5_000
"""Most characters of failure text kept per test (the tail is kept: it holds the assertion)."""


def format_points(value: float) -> str:
    """Write a number of points the way a student reads it.

    Whole numbers print without a decimal point; anything else is rounded to at most two
    decimals, with trailing zeros dropped.

    >>> format_points(14), format_points(14.0), format_points(2.5), format_points(1 / 3)
    ('14', '14', '2.5', '0.33')
    """
    rounded = round(float(value), 2)
    if rounded.is_integer():
        return str(int(rounded))
    return f"{rounded:.2f}".rstrip("0").rstrip(".")


def trim_text(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """Keep at most ``limit`` characters of ``text``, dropping the *start* when it is too long.

    A pytest failure report ends with the assertion message (``E   assert 3 == 4``) and the
    failing line, so the tail is the part worth keeping.
    """
    if len(text) <= limit:
        return text
    note = f"[... {len(text) - limit} characters trimmed ...]\n"
    return note + text[len(text) - limit :]


@dataclass
class GradedTest:
    """One graded test (one parametrised case counts as one test).

    Attributes:
        nodeid: pytest's id, e.g. ``"tests/test_ex1.py::test_add[2-3]"``; the key in the board.
        name: the readable name shown to students, e.g. ``"1. Autograd: test_add[2-3]"``.
        exercise: the group the test is scored in.
        max_points: what the test is worth (its ``@pytest.mark.points(n)``).
        passed_phases: the phases that passed so far.
        failed: True once any phase failed (or errored).
        skipped: True once any phase was skipped (this includes xfail).
        output: failure or skip text, for the student.
    """

    nodeid: str
    name: str
    exercise: str
    max_points: float
    passed_phases: set[str] = field(default_factory=set)
    failed: bool = False
    skipped: bool = False
    output: str = ""

    @property
    def status(self) -> str:
        """``"passed"``, ``"failed"``, ``"skipped"`` or ``"not run"``.

        A failure in any phase wins over a skip, and "passed" needs all three phases.
        """
        if self.failed:
            return "failed"
        if self.skipped:
            return "skipped"
        if self.passed_phases.issuperset(PHASES):
            return "passed"
        return "not run"

    @property
    def points(self) -> float:
        """Points earned: all of ``max_points`` if the test passed, else 0."""
        return self.max_points if self.status == "passed" else 0.0


@dataclass(frozen=True)
class ExerciseScore:
    """The totals of one exercise (one row of the score table)."""

    exercise: str
    passed: int
    tests: int
    points: float
    max_points: float


class Scoreboard:
    """Collects graded tests and their outcomes; computes the score table.

    Example::

        board = Scoreboard()
        board.add_test("t.py::test_a", "test_a", exercise="1. Autograd", max_points=2)
        for phase in PHASES:
            board.record("t.py::test_a", phase, "passed")
        board.total()  # (2.0, 2.0)
    """

    def __init__(self) -> None:
        self._tests: dict[str, GradedTest] = {}
        self.collection_errors: list[tuple[str, str]] = []
        """``(nodeid, error text)`` for files that failed to import: their points are unknown."""

    def add_test(self, nodeid: str, name: str, exercise: str, max_points: float) -> None:
        """Register a graded test before it runs.

        Raises:
            TypeError: if ``max_points`` is not an int or a float.
            ValueError: if ``max_points`` is not finite and positive.
        """
        if isinstance(max_points, bool) or not isinstance(max_points, (int, float)):
            raise TypeError(
                f"{nodeid}: points must be a positive number, got {max_points!r} "
                f"({type(max_points).__name__})"
            )
        if not (math.isfinite(max_points) and max_points > 0):
            raise ValueError(f"{nodeid}: points must be a positive number, got {max_points!r}")
        self._tests[nodeid] = GradedTest(nodeid, name, exercise, float(max_points))

    def __contains__(self, nodeid: object) -> bool:
        return nodeid in self._tests

    def __len__(self) -> int:
        return len(self._tests)

    def record(self, nodeid: str, phase: str, outcome: str, text: str = "") -> None:
        """Record how one phase of a test ended.

        Arguments:
            nodeid: the test; reports for tests that are not graded are ignored.
            phase: ``"setup"``, ``"call"`` or ``"teardown"``.
            outcome: ``"passed"``, ``"failed"`` or ``"skipped"``; anything else (e.g. a
                plugin's ``"rerun"``) is ignored, as the test reports again afterwards.
            text: the failure or skip text, kept for the student.
        """
        test = self._tests.get(nodeid)
        if test is None or phase not in PHASES:
            return
        if outcome == "passed":
            test.passed_phases.add(phase)
        elif outcome == "failed":
            test.failed = True
            label = "" if phase == "call" else f"[error in {phase}]\n"
            self._append_output(test, label + text)
        elif outcome == "skipped":
            test.skipped = True
            self._append_output(test, text)

    @staticmethod
    def _append_output(test: GradedTest, text: str) -> None:
        text = text.strip("\n")
        if text:
            test.output = f"{test.output}\n\n{text}" if test.output else text

    def add_collection_error(self, nodeid: str, text: str) -> None:
        """Note a file or class that could not be collected (e.g. an import error)."""
        self.collection_errors.append((nodeid, text))

    @property
    def tests(self) -> list[GradedTest]:
        """The graded tests, in collection order."""
        return list(self._tests.values())

    def exercises(self) -> list[ExerciseScore]:
        """One ``ExerciseScore`` per exercise, in the order the exercises were first collected."""
        groups: dict[str, list[GradedTest]] = {}
        for test in self._tests.values():
            groups.setdefault(test.exercise, []).append(test)
        return [
            ExerciseScore(
                exercise=name,
                passed=sum(t.status == "passed" for t in group),
                tests=len(group),
                points=math.fsum(t.points for t in group),
                max_points=math.fsum(t.max_points for t in group),
            )
            for name, group in groups.items()
        ]

    def total(self) -> tuple[float, float]:
        """``(points earned, points possible)`` over all graded tests."""
        tests = self._tests.values()
        return math.fsum(t.points for t in tests), math.fsum(t.max_points for t in tests)

    def table_lines(self) -> list[str]:
        """The score table as lines of text; the last line is ``Total: X/Y points``."""
        rows = [("exercise", "tests", "points")]
        for e in self.exercises():
            points = f"{format_points(e.points)}/{format_points(e.max_points)}"
            rows.append((e.exercise, f"{e.passed}/{e.tests}", points))
        name_width = max(len(row[0]) for row in rows)
        tests_width = max(len(row[1]) for row in rows)
        lines = [f"{n:<{name_width}}   {t:<{tests_width}}   {p}".rstrip() for n, t, p in rows]

        for status in ("skipped", "not run"):
            count = sum(t.status == status for t in self._tests.values())
            if count:
                lines.append(
                    f"({count} graded test{_plural(count)} {status}: no points earned, "
                    "but counted in the total)"
                )
        if errors := len(self.collection_errors):
            lines.append(
                f"({errors} file{_plural(errors)} could not be collected: any points in "
                f"{'it' if errors == 1 else 'them'} are missing from the total)"
            )
        earned, possible = self.total()
        lines.append(f"Total: {format_points(earned)}/{format_points(possible)} points")
        return lines


def _plural(count: int) -> str:
    return "" if count == 1 else "s"
