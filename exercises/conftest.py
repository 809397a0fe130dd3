"""Connects the graders to the exercise you wrote (``learnres.grading.harness`` does the work).

A grader names its file with ``MODULE = "ex1_autograd"`` and takes the ``exercise`` and ``rng``
fixtures; it runs your code with ``exercise.run(runner, ...)`` and computes the expected values
with ``exercise.expect(...)``. Your file is imported under ``learnres.grading.guard``: it may not
import torch, the grader, or learnres's own solution of the exercise, and only the functions and
classes written in it earn points. If it does not import (a syntax error, say), every test of
that exercise fails with the error, and the other exercises are graded as usual.

Options (``pytest exercises/ --help`` lists them):

    --hint 3.3 [--hint-level 2]   print the hints of part 3.3, up to a level (1-3), and stop
    --reference                   grade learnres's own solution (instructors)
    --isolate                     run your code in a separate process (as Gradescope does)
    --seed N                      draw other random cases than the default ones
    --record-cases / --replay-cases PATH   expected values to / from a file (the autograder zip)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from learnres.grading import harness
from learnres.grading.hints import format_hints

HERE = Path(__file__).resolve().parent
_submissions: dict[str, object] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("learnres-exercises", "learnres exercises")
    group.addoption(
        "--hint",
        action="append",
        default=[],
        metavar="PART",
        help="print the hints of PART (e.g. 3.3; 3.3:2 for up to level 2) and stop",
    )
    group.addoption(
        "--hint-level", type=int, default=1, help="show hints up to this level (1-3; default 1)"
    )
    group.addoption(
        "--reference",
        action="store_true",
        default=False,
        help="grade learnres's reference solution instead of the files in exercises/",
    )
    group.addoption(
        "--isolate",
        action="store_true",
        default=False,
        help="run the submitted code in a child process (as nobody when root); only plain data "
        "comes back, and this process scores",
    )
    group.addoption("--seed", type=int, default=None, help="base seed of the random cases")
    group.addoption("--record-cases", metavar="PATH", default=None,
                    help="write the expected values of this run to PATH")  # fmt: skip
    group.addoption("--replay-cases", metavar="PATH", default=None,
                    help="read the expected values (and the seed) from PATH")  # fmt: skip


def pytest_cmdline_main(config: pytest.Config):
    if config.getoption("hint"):
        text = format_hints(config.getoption("hint"), config.getoption("hint_level"))
        print(text)
        return 0
    return None


def pytest_configure(config: pytest.Config) -> None:
    replay, record = config.getoption("replay_cases"), config.getoption("record_cases")
    if replay and record:
        raise pytest.UsageError("--record-cases and --replay-cases exclude each other")
    if replay:
        cases = harness.Cases.load(replay)
    else:
        seed = config.getoption("seed")
        cases = harness.Cases("record" if record else "compute", 0 if seed is None else seed)
        harness.preload_torch()  # now, so that no test's timeout pays for the import
    config._learnres_cases = cases
    config._learnres_specs = harness.load_specs(HERE)


def pytest_report_header(config: pytest.Config) -> list[str]:
    where = "learnres's reference solution (--reference)"
    if not config.getoption("reference"):
        where = f"the exercise files in {HERE}"
    lines = [f"grading: {where}"]
    if config.getoption("isolate"):
        lines.append(f"grading: your code runs in a separate process, as {harness.child_user()}")
    return lines


def pytest_sessionfinish(session: pytest.Session) -> None:
    for submission in _submissions.values():
        submission.close()
    _submissions.clear()
    path = session.config.getoption("record_cases")
    if path:
        session.config._learnres_cases.save(path)


def _submission(config: pytest.Config, slug: str):
    if slug not in _submissions:
        spec = config._learnres_specs[slug]
        path = HERE / f"{slug}.py"
        if config.getoption("reference"):
            from learnres.grading.exercises import solution_module  # not in the autograder zip

            trusted = frozenset(str(p) for p in HERE.glob("test_*.py"))
            _submissions[slug] = harness.LocalSubmission(spec, path, trusted, solution_module(slug))
        elif config.getoption("isolate"):
            _submissions[slug] = harness.IsolatedSubmission(spec, path, HERE)
        else:
            trusted = frozenset(str(p) for p in [*HERE.glob("test_*.py"), HERE / "conftest.py"])
            _submissions[slug] = harness.LocalSubmission(spec, path, trusted)
    return _submissions[slug]


@pytest.fixture
def exercise(request: pytest.FixtureRequest) -> harness.Exercise:
    """The exercise under test: run the student's code with ``exercise.run``."""
    submission = _submission(request.config, request.module.MODULE)
    cases = request.config._learnres_cases
    return harness.Exercise(
        submission, cases, request.node.nodeid, harness.test_timeout(request.node)
    )


@pytest.fixture
def rng(request: pytest.FixtureRequest):
    """A generator seeded from the run's base seed and the test's id."""
    return harness.rng_for(request.config._learnres_cases.seed, request.node.nodeid)
