"""The graded exercises are proven here, by grading known answers in pytest subprocesses.

* ``exercises/`` is exactly what ``python -m learnres.grading.exercises`` generates.
* ``pytest exercises/ --reference`` (learnres's own solution) scores full marks.
* The untouched stubs score zero, every test failing with its NotImplementedError.
* ``exercises/autograder/run_autograder`` (Gradescope) grades a submission in a subfolder.
* Every planted bug (``learnres.grading.mutants``) loses exactly the points of the tests that
  should catch it, with a failure message that points at the bug.

Each run grades a temporary copy of ``exercises/`` and reads the per-test results from the
``--gradescope-json`` file. The planted bugs are graded in rounds: a round holds at most one
mutant per exercise and runs only those exercises' graders (each grader checks only its own
exercise file, so they cannot interfere). All runs start at once, two at a time.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from learnres.grading.exercises import (
    EXERCISES,
    check_exercises,
    exercise,
    solution_source,
    stub_message,
    stub_source,
)
from learnres.grading.mutants import MUTANTS, Mutant, mutant_source

REPO = Path(__file__).resolve().parents[2]
EXERCISES_DIR = REPO / "exercises"
TOTAL = re.compile(r"^Total: (\S+)/(\S+) points$", re.MULTILINE)


PARALLEL = 2  # grading runs at a time (the CI machines have 2 cores)
QUIET = ["-p", "no:hypothesispytest", "-p", "no:nbmake", "-p", "no:anyio"]  # unused plugins
AUTOGRADER = EXERCISES_DIR / "autograder" / "run_autograder"


class _Run:
    """One grading subprocess: ``command`` run in ``folder``, results.json at ``results``."""

    def __init__(self, folder: Path, command: list[str], results: Path, env: dict | None = None):
        self.folder, self.command, self.results = folder, command, results
        self.env = dict(
            os.environ,
            PYTHONDONTWRITEBYTECODE="1",
            LEARNRES_NUM_THREADS="1",
            OMP_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            **(env or {}),
        )
        self.process = None
        self.seconds = 0.0

    def start(self) -> None:
        self._start = time.monotonic()
        self.log = open(self.folder / "output.txt", "w+")  # noqa: SIM115 (closed in result())
        self.process = subprocess.Popen(
            self.command,
            cwd=self.folder,
            env=self.env,
            text=True,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def poll(self) -> bool:
        if self.process.poll() is None:
            return False
        if not self.seconds:
            self.seconds = time.monotonic() - self._start
        return True

    def result(self):
        """``(results.json as a dict, the output, seconds)``."""
        self.process.wait(timeout=600)
        self.poll()
        self.log.seek(0)
        output = self.log.read()
        self.log.close()
        if not self.results.is_file():
            pytest.fail(f"the grading run wrote no results.json:\n{output[-4000:]}")
        return json.loads(self.results.read_text()), output, self.seconds


def _copy_exercises(folder: Path, files: dict[str, str]) -> Path:
    """A copy of exercises/ in ``folder`` with ``files`` (name -> text) written over it."""
    work = folder / "exercises"
    shutil.copytree(EXERCISES_DIR, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name, text in files.items():
        (work / name).write_text(text, encoding="utf-8")
    return work


def _pytest_run(folder: Path, files: dict[str, str], args: list[str], targets=None) -> _Run:
    """``pytest exercises/ ARGS`` on a copy of exercises/ with ``files`` written over it."""
    _copy_exercises(folder, files)
    results = folder / "results.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *(targets or ["exercises"]),
        *args,
        "--gradescope-json",
        str(results),
        *QUIET,
    ]
    return _Run(folder, command, results)


def _gradescope_run(folder: Path, submission: dict[str, str]) -> _Run:
    """run_autograder in a stand-in for Gradescope's /autograder folder: the graders in
    source/exercises (with the stubs beside them, which it must ignore), the student's files
    in a subfolder of submission/."""
    _copy_exercises(folder / "source", {})
    (folder / "submission" / "my work").mkdir(parents=True)
    for name, text in submission.items():
        (folder / "submission" / "my work" / name).write_text(text, encoding="utf-8")
    env = {"AUTOGRADER_ROOT": str(folder), "AUTOGRADER_PYTHON": sys.executable}
    return _Run(folder, ["bash", str(AUTOGRADER)], folder / "results" / "results.json", env)


def _run_all(runs: list[_Run]) -> None:
    """Run the grading runs, ``PARALLEL`` at a time."""
    waiting, running = list(runs), []
    while waiting or running:
        running = [r for r in running if not r.poll()]
        while waiting and len(running) < PARALLEL:
            run = waiting.pop(0)
            run.start()
            running.append(run)
        time.sleep(0.05)


def _test_name(entry: dict) -> str:
    """``"1. Autograd: test_mul_backward"`` -> ``"test_mul_backward"``."""
    return entry["name"].split(": ", 1)[-1]


def _max_points(results: dict) -> float:
    return sum(t["max_score"] for t in results["tests"])


# ---- one source ------------------------------------------------------------------------------


def test_exercise_files_are_generated_from_learnres():
    problems = check_exercises(EXERCISES_DIR)
    assert not problems, "\n".join(problems) + "\nregenerate: python -m learnres.grading.exercises"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.slug)
def test_every_part_is_a_stub_with_its_number(ex):
    raised = [
        node.exc.args[0].value
        for node in ast.walk(ast.parse(stub_source(ex.slug)))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", None) == "NotImplementedError"
    ]
    assert sorted(raised) == sorted(stub_message(part) for part in ex.parts)
    assert (EXERCISES_DIR / ex.grader).is_file(), f"no grader {ex.grader} for {ex.slug}"


# ---- the reference and the stubs -----------------------------------------------------------


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """Every grading run of this file, made at once: "reference", "stubs", "gradescope" (each
    ``(results, output, seconds)``) and per mutant name ``(its exercise's test results,
    seconds of its round)``."""
    submission = {ex.filename: solution_source(ex.slug) for ex in EXERCISES[:-1]}
    runs = {
        "reference": _pytest_run(tmp_path_factory.mktemp("reference"), {}, ["--reference"]),
        "stubs": _pytest_run(tmp_path_factory.mktemp("stubs"), {}, []),
        "gradescope": _gradescope_run(tmp_path_factory.mktemp("gradescope"), submission),
    }
    rounds = _rounds()
    for k, group in enumerate(rounds):
        files = {exercise(m.slug).filename: mutant_source(m) for m in group}
        targets = [f"exercises/{exercise(m.slug).grader}" for m in group]
        runs[k] = _pytest_run(tmp_path_factory.mktemp(f"round{k}"), files, [], targets)
    _run_all(list(runs.values()))
    out = {name: runs[name].result() for name in ("reference", "stubs", "gradescope")}
    for k, group in enumerate(rounds):
        results, _, seconds = runs[k].result()
        for m in group:
            label = f"{exercise(m.slug).number}."
            out[m.name] = ([t for t in results["tests"] if t["name"].startswith(label)], seconds)
    return out


@pytest.fixture(scope="module")
def reference_run(graded):
    return graded["reference"]


@pytest.fixture(scope="module")
def stubs_run(graded):
    return graded["stubs"]


def test_reference_scores_full_marks(reference_run):
    results, stdout, _ = reference_run
    failed = [f"{t['name']}:\n{t['output']}" for t in results["tests"] if t["status"] != "passed"]
    assert not failed, "the reference solution fails:\n\n" + "\n\n".join(failed)
    assert results["score"] == _max_points(results) > 0
    earned, possible = TOTAL.search(stdout).groups()
    assert earned == possible, stdout[-2000:]
    graded = {t["name"].split(": ", 1)[0] for t in results["tests"]}
    assert len(graded) == len(EXERCISES), f"exercises graded: {sorted(graded)}"


def test_stubs_score_zero(stubs_run, reference_run):
    results, stdout, _ = stubs_run
    passed = [t["name"] for t in results["tests"] if t["status"] == "passed"]
    assert not passed, f"tests that the untouched stubs pass: {passed}"
    assert results["score"] == 0
    assert TOTAL.search(stdout).group(1) == "0"
    # the stubs are graded on the same tests as the reference, and say which part to write
    assert [t["name"] for t in results["tests"]] == [t["name"] for t in reference_run[0]["tests"]]
    for t in results["tests"]:
        assert "NotImplementedError: Exercise " in t["output"], t["name"]


def test_gradescope_autograder_grades_a_submission(graded):
    """run_autograder finds the files anywhere in the submission, ignores the stubs shipped
    with the graders, and scores a missing file 0 with a message that says so."""
    results, output, _ = graded["gradescope"]
    missing = EXERCISES[-1]
    label = f"{missing.number}."
    lost = [t for t in results["tests"] if t["name"].startswith(label)]
    assert lost and all(t["status"] == "failed" for t in lost)
    assert all(f"{missing.filename} is missing" in t["output"] for t in lost), lost[0]["output"]
    kept = [t for t in results["tests"] if not t["name"].startswith(label)]
    assert all(t["status"] == "passed" for t in kept), [
        t["name"] for t in kept if t["status"] != "passed"
    ]
    assert results["score"] == sum(t["max_score"] for t in kept) > 0
    assert f"not submitted: {missing.filename}" in output


# ---- planted bugs ---------------------------------------------------------------------------


def _rounds() -> list[list[Mutant]]:
    """The mutants in rounds with at most one per exercise."""
    rounds: list[list[Mutant]] = []
    for mutant in MUTANTS:
        for group in rounds:
            if all(m.slug != mutant.slug for m in group):
                group.append(mutant)
                break
        else:
            rounds.append([mutant])
    return rounds


def test_mutants_are_well_formed():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    for ex in EXERCISES:
        assert any(m.slug == ex.slug for m in MUTANTS), f"no planted bug for {ex.slug}"
    for m in MUTANTS:
        mutant_source(m)  # raises if a patch no longer applies


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_planted_bug_loses_exactly_its_points(mutant, graded):
    tests, _ = graded[mutant.name]
    assert tests, f"no results for {mutant.slug}"
    known = {_test_name(t) for t in tests}
    assert set(mutant.failing) <= known, (
        f"unknown tests in {mutant.name}: {set(mutant.failing) - known}"
    )
    failed = {_test_name(t) for t in tests if t["status"] != "passed"}
    unexpected = "\n\n".join(
        f"{t['name']} ({t['status']}):\n{t['output'][-1500:]}"
        for t in tests
        if (_test_name(t) in failed) != (_test_name(t) in mutant.failing)
    )
    assert failed == set(mutant.failing), (
        f"{mutant.name} ({mutant.bug}): expected exactly {sorted(mutant.failing)} to fail, "
        f"got {sorted(failed)}:\n{unexpected}"
    )
    lost = sum(t["max_score"] for t in tests if _test_name(t) in mutant.failing)
    earned = sum(t["score"] for t in tests)
    assert lost > 0 and earned == sum(t["max_score"] for t in tests) - lost
    output = "\n".join(t["output"] for t in tests if t["status"] != "passed")
    assert mutant.message in output, f"{mutant.name}: {mutant.message!r} not in:\n{output[-3000:]}"
