"""Connects the graders to the exercise you wrote (``learnres.grading.harness`` does the work).

A grader names its file with ``MODULE = "ex1_autograd"`` and takes the ``exercise`` and ``rng``
fixtures; it runs your code with ``exercise.run(runner, ...)`` and computes the expected values
with ``exercise.expect(...)``. Your file is imported under ``learnres.grading.guard``: it may not
import torch, the grader, or learnres's own solution of the exercise, and only the functions and
classes written in it earn points. If it does not import (a syntax error, say), every test of
that exercise fails with the error, and the other exercises are graded as usual.

Your code runs in a separate process (``learnres.grading.child``), as on Gradescope: only
plain data comes back, so nothing it does to its own process changes a score. The random cases
are new on every run; the header shows the seed, and ``--seed N`` repeats a run.

Options (``pytest exercises/ --help`` lists them):

    --hint 3.3 [--hint-level 2]   print the hints of part 3.3, up to a level (1-3), and stop
    --seed N                      draw the random cases of run N again
    --in-process                  run your code in the grading process (for a debugger)
    --reference                   grade learnres's own solution (instructors)
    --record-cases / --replay-cases PATH   expected values to / from a file (the autograder zip)
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from learnres.grading import harness
from learnres.grading.hints import format_hints, unknown_parts

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
        "--in-process",
        action="store_true",
        default=False,
        help="run the submitted code in this process (to use a debugger); by default it runs "
        "in a child process (as nobody when root) and only plain data comes back",
    )
    group.addoption(
        "--isolate",
        action="store_true",
        default=False,
        help="run the submitted code in a child process (the default; kept for scripts)",
    )
    group.addoption(
        "--seed",
        type=int,
        default=None,
        help="base seed of the random cases (default: a new one each run)",
    )
    group.addoption(
        "--record-cases",
        metavar="PATH",
        default=None,
        help="write the expected values of this run to PATH",
    )
    group.addoption(
        "--replay-cases",
        metavar="PATH",
        default=None,
        help="read the expected values (and the seed) from PATH",
    )


def pytest_cmdline_main(config: pytest.Config):
    if config.getoption("hint"):
        requests = config.getoption("hint")
        print(format_hints(requests, config.getoption("hint_level")))
        return 4 if unknown_parts(requests) else 0  # 4: pytest's "usage error"
    return None


def pytest_configure(config: pytest.Config) -> None:
    replay, record = config.getoption("replay_cases"), config.getoption("record_cases")
    if replay and record:
        raise pytest.UsageError("--record-cases and --replay-cases exclude each other")
    if replay:
        cases = harness.Cases.load(replay)
    else:
        seed = config.getoption("seed")
        seed = secrets.randbelow(2**31) if seed is None else seed
        cases = harness.Cases("record" if record else "compute", seed)
        harness.preload_torch()  # now, so that no test's timeout pays for the import
    config._learnres_cases = cases
    config._learnres_specs = harness.load_specs(HERE)


def pytest_report_header(config: pytest.Config) -> list[str]:
    where = "learnres's reference solution (--reference)"
    if not config.getoption("reference"):
        where = f"the exercise files in {HERE}"
    lines = [f"grading: {where}"]
    if _isolated(config):
        lines.append(f"grading: your code runs in a separate process, as {harness.child_user()}")
    else:
        lines.append("grading: your code runs in this process (--in-process)")
    cases = config._learnres_cases
    if cases.mode == "replay":
        lines.append("grading: the recorded cases (--replay-cases)")
    else:
        lines.append(f"grading: random cases of --seed {cases.seed}")
    return lines


def _isolated(config: pytest.Config) -> bool:
    return not (config.getoption("in_process") or config.getoption("reference"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Exercises in their order (test_ex10 sorts before test_ex2 by name)."""

    def number(item: pytest.Item) -> int:
        module = getattr(getattr(item, "module", None), "MODULE", "")
        digits = module[2:].split("_", 1)[0] if module.startswith("ex") else ""
        return int(digits) if digits.isdigit() else 0

    items.sort(key=number)  # a stable sort: the tests of one file keep their order


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
        elif _isolated(config):
            _submissions[slug] = harness.IsolatedSubmission(spec, path, HERE)
        else:
            trusted = frozenset(str(p) for p in [*HERE.glob("test_*.py"), HERE / "conftest.py"])
            _submissions[slug] = harness.LocalSubmission(spec, path, trusted)
    return _submissions[slug]


@pytest.fixture
def exercise(request: pytest.FixtureRequest) -> harness.Exercise:
    """The exercise under test: run the student's code with ``exercise.run``."""
    submission = _submission(request.config, request.module.MODULE)
    submission.ensure_started()  # in the fixture: not counted in the test's timeout
    cases = request.config._learnres_cases
    return harness.Exercise(
        submission, cases, request.node.nodeid, harness.test_timeout(request.node)
    )


@pytest.fixture
def rng(request: pytest.FixtureRequest):
    """A generator seeded from the run's base seed and the test's id."""
    return harness.rng_for(request.config._learnres_cases.seed, request.node.nodeid)
