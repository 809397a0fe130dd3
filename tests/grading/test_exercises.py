"""The graded exercises are proven here, by grading known answers in subprocesses.

* ``exercises/`` is exactly what ``python -m learnres.grading.exercises`` generates.
* The autograder zip builds from this checkout (``learnres.grading.autograder``): the build
  grades learnres's reference solution on the zip's new random cases (it must score full
  marks) and records the expected values; every other run here replays those values, in a
  process where ``import torch`` fails, so the graders are proven to need no PyTorch.
* A dry run of the zip: its ``setup.sh`` installs it offline from its wheelhouse into a fresh
  venv; its ``run_autograder`` grades the reference solution (full marks; the student's code
  runs in a child process, as nobody when these tests run as root) and the untouched stubs (0).
* The untouched stubs score zero through ``pytest exercises/``, every test failing with its
  NotImplementedError.
* Every planted bug (``learnres.grading.mutants``) loses exactly the points of the tests that
  should catch it, with a failure message that points at the bug.
* Every way of cheating in ``tests/grading/cheats.py``, written into the untouched stubs,
  scores 0 through ``pytest exercises/`` and through ``run_autograder``.

All runs start at once, ``PARALLEL`` at a time. The planted bugs are graded in rounds: a round
holds at most one mutant per exercise and runs only those exercises' graders, in-process.
"""

from __future__ import annotations

import ast
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from learnres.grading.autograder import BUILDER_MODULES
from learnres.grading.exercises import (
    EXERCISES,
    check_exercises,
    exercise,
    solution_source,
    stub_message,
    stub_source,
)
from learnres.grading.harness import load_specs
from learnres.grading.mutants import MUTANTS, Mutant, mutant_source
from tests.grading.cheats import CHEATS

# The zip's build and the grading runs happen in module fixtures, whose time counts against
# the first test that uses them: about 4 minutes of CPU in all (see exercises/README.md).
pytestmark = pytest.mark.timeout(3600)

REPO = Path(__file__).resolve().parents[2]
EXERCISES_DIR = REPO / "exercises"
TOTAL = re.compile(r"^Total: (\S+)/(\S+) points$", re.MULTILINE)
SEED = 20_150_610  # the test zip's cases (a real zip draws a new seed)
PARALLEL = 2  # grading runs at a time (the CI machines have 2 cores)
QUIET = ["-p", "no:hypothesispytest", "-p", "no:nbmake", "-p", "no:anyio"]  # unused plugins
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _base_python() -> str:
    """An interpreter of this version that every user can run (so that the dry run's child
    can run as nobody), or this one."""
    system = Path(f"/usr/bin/python{PYTHON}")
    usable = system.is_file() and subprocess.run([system, "-c", "import venv, ensurepip"])
    if usable and usable.returncode == 0:
        return str(system)
    return sys.executable


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
        )
        for key, value in (env or {}).items():
            if value is None:
                self.env.pop(key, None)
            else:
                self.env[key] = value
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
        self.process.wait(timeout=1200)
        self.poll()
        self.log.seek(0)
        output = self.log.read()
        self.log.close()
        if not self.results.is_file():
            pytest.fail(f"the grading run wrote no results.json:\n{output[-4000:]}")
        return json.loads(self.results.read_text()), output, self.seconds


def _run_all(runs: list[_Run]) -> None:
    waiting, running = list(runs), []
    while waiting or running:
        running = [r for r in running if not r.poll()]
        while waiting and len(running) < PARALLEL:
            run = waiting.pop(0)
            run.start()
            running.append(run)
        time.sleep(0.05)


def _no_torch(folder: Path) -> str:
    """A folder whose ``torch`` package fails to import, for PYTHONPATH."""
    fake = folder / "no-torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ImportError('torch is not installed here: a replay run must not need it')\n"
    )
    return str(folder / "no-torch")


def _copy_exercises(folder: Path, files: dict[str, str]) -> Path:
    work = folder / "exercises"
    shutil.copytree(EXERCISES_DIR, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name, text in files.items():
        (work / name).write_text(text, encoding="utf-8")
    return work


def _pytest_run(
    folder: Path, files: dict[str, str], args: list[str], cases: Path, targets=None
) -> _Run:
    """``pytest exercises/ ARGS --replay-cases CASES`` on a copy of exercises/ with ``files``
    written over it, where torch cannot be imported."""
    _copy_exercises(folder, files)
    results = folder / "results.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *(targets or ["exercises"]),
        *args,
        "--replay-cases",
        str(cases),
        "--gradescope-json",
        str(results),
        *QUIET,
    ]
    pythonpath = os.pathsep.join([_no_torch(folder), os.environ.get("PYTHONPATH", str(REPO))])
    return _Run(folder, command, results, {"PYTHONPATH": pythonpath})


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


# ---- the autograder zip, and everything graded against its recorded cases ----------------------


@pytest.fixture(scope="module")
def autograder() -> dict:
    """The zip (built for this Python only), unzipped into a stand-in /autograder whose venv
    its setup.sh made, in a folder every user can read (the dry run's child runs as nobody
    when the tests run as root, and must reach the venv)."""
    folder = Path(tempfile.mkdtemp(prefix="learnres-dry-run-"))
    os.chmod(folder, 0o755)
    try:
        yield _install(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _install(folder: Path) -> dict:
    """make_autograder.sh into a folder that does not exist yet, then dry_run.sh on the zip."""
    env = {**os.environ, "PYTHON": sys.executable}
    zip_path = folder / "new" / "folders" / "autograder.zip"
    make = subprocess.run(
        [
            "bash",
            str(EXERCISES_DIR / "autograder" / "make_autograder.sh"),
            str(zip_path),
            "--seed",
            str(SEED),
            "--pythons",
            PYTHON,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-5000:]
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
    dry = subprocess.run(
        ["bash", str(EXERCISES_DIR / "autograder" / "dry_run.sh"), str(zip_path)],
        env={**env, "AUTOGRADER_BASE_PYTHON": _base_python(), "DRY_RUN_KEEP": str(folder / "dry")},
        capture_output=True,
        text=True,
    )
    root = folder / "dry" / "autograder"
    cases = folder / "cases.json.gz"  # a copy for the pytest runs (run_autograder closes source/)
    shutil.copyfile(root / "source" / "cases.json.gz", cases)
    return {"zip": zip_path, "names": names, "root": root, "cases": cases, "dry": dry}


def _clean_env(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["AUTOGRADER_ROOT"] = str(root)
    return env


def _gradescope_run(autograder: dict, folder: Path, submission: dict[str, str]) -> _Run:
    """run_autograder in its own copy of the stand-in /autograder, with ``submission`` in a
    subfolder of submission/ (the venv is shared: run_autograder only reads it)."""
    root = folder / "autograder"
    shutil.copytree(
        autograder["root"] / "source", root / "source", ignore=shutil.ignore_patterns("wheelhouse")
    )
    (root / "submission" / "my work").mkdir(parents=True)
    for name, text in submission.items():
        (root / "submission" / "my work" / name).write_text(text, encoding="utf-8")
    env = {k: None for k in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "AUTOGRADER_ROOT": str(root),
        "AUTOGRADER_PYTHON": str(autograder["root"] / "venv" / "bin" / "python"),
    }
    script = root / "source" / "run_autograder"
    return _Run(folder, ["bash", str(script)], root / "results" / "results.json", env)


def _cheat_files(cheat, context: dict) -> dict[str, str]:
    specs = load_specs(EXERCISES_DIR)
    return {
        ex.filename: cheat.write(specs[ex.slug], stub_source(ex.slug), context) for ex in EXERCISES
    }


@pytest.fixture(scope="module")
def graded(autograder, tmp_path_factory) -> dict:
    """Every grading run of this file, made at once. Keys: "stubs", "gradescope reference",
    ("cheat", name, "pytest" | "gradescope"), each ``(results, output,
    seconds)``; and per mutant name ``(its exercise's test results, seconds of its round)``."""
    cases = autograder["cases"]
    runs: dict = {"stubs": _pytest_run(tmp_path_factory.mktemp("stubs"), {}, [], cases)}
    reference = {ex.filename: solution_source(ex.slug) for ex in EXERCISES[:-1]}
    runs["gradescope reference"] = _gradescope_run(
        autograder, tmp_path_factory.mktemp("gs-reference"), reference
    )
    for cheat in CHEATS:
        folder = tmp_path_factory.mktemp(f"cheat-{cheat.name.replace(' ', '-')}")
        run = _pytest_run(folder / "local", {}, [], cases)
        context = {"results": str(run.results), "cases": str(cases), "source": str(cases)}
        for name, text in _cheat_files(cheat, context).items():
            (folder / "local" / "exercises" / name).write_text(text, encoding="utf-8")
        runs[("cheat", cheat.name, "pytest")] = run
        root = folder / "gs" / "autograder"
        context = {
            "results": str(root / "results" / "results.json"),
            "cases": str(root / "source" / "cases.json.gz"),
            "source": str(root / "source" / "exercises" / "test_ex1_autograd.py"),
        }
        runs[("cheat", cheat.name, "gradescope")] = _gradescope_run(
            autograder, folder / "gs", _cheat_files(cheat, context)
        )
    rounds = _rounds()
    for k, group in enumerate(rounds):
        files = {exercise(m.slug).filename: mutant_source(m) for m in group}
        targets = [f"exercises/{exercise(m.slug).grader}" for m in group]
        folder = tmp_path_factory.mktemp(f"round{k}")
        runs[k] = _pytest_run(folder, files, ["--in-process"], cases, targets)
    _run_all(list(runs.values()))
    out = {name: run.result() for name, run in runs.items() if not isinstance(name, int)}
    for k, group in enumerate(rounds):
        results, _, seconds = runs[k].result()
        for m in group:
            label = f"{exercise(m.slug).number}."
            out[m.name] = ([t for t in results["tests"] if t["name"].startswith(label)], seconds)
    return out


def _max_points(results: dict) -> float:
    return sum(t["max_score"] for t in results["tests"])


def test_dry_run_installs_offline_and_grades_stubs_zero_and_the_reference_full(autograder):
    """exercises/autograder/dry_run.sh: the zip's setup.sh in a fresh venv from its own
    wheelhouse (no index), then its run_autograder on the stubs and on the reference."""
    dry = autograder["dry"]
    assert dry.returncode == 0, dry.stdout[-4000:] + dry.stderr[-3000:]
    total = sum(p for ex in EXERCISES for p in _points(ex))
    assert f"untouched stubs:     0/{total} points" in dry.stdout, dry.stdout
    assert f"reference solution:  {total}/{total} points" in dry.stdout, dry.stdout
    assert "dry run passed" in dry.stdout


def _points(ex) -> list[float]:
    """The points of every graded test case of ``ex``'s grader (from its source)."""
    tree = ast.parse((EXERCISES_DIR / ex.grader).read_text())
    points = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "points":
                    points.append(d.args[0].value)
    return points


def test_the_zip_holds_the_graders_and_wheels_but_no_solutions(autograder):
    names = autograder["names"]
    assert {"setup.sh", "run_autograder", "cases.json.gz", "exercises/conftest.py"} <= set(names)
    assert {f"exercises/{ex.grader}" for ex in EXERCISES} <= set(names)
    assert not [n for n in names if re.fullmatch(r"exercises/ex\d+_\w+\.py", n)], "stubs shipped"
    wheels = [n for n in names if n.startswith("wheelhouse/")]
    assert any(n.startswith("wheelhouse/numpy-") for n in wheels)
    assert not any("torch" in n for n in wheels), "the zip needs no PyTorch"
    with zipfile.ZipFile(autograder["zip"]) as z:
        wheel = next(n for n in wheels if Path(n).name.startswith("learnres-"))
        with z.open(wheel) as f, zipfile.ZipFile(f) as learnres_wheel:
            inside = learnres_wheel.namelist()
    assert "learnres/grading/plugin.py" in inside and "learnres/nn/blocks.py" in inside
    for builder in BUILDER_MODULES:
        assert f"learnres/grading/{builder}" not in inside, f"{builder} makes solutions"
    with gzip.open(autograder["cases"], "rt") as f:
        assert json.load(f)["seed"] == SEED


def test_run_autograder_finds_the_files_and_scores_a_missing_one_zero(graded):
    """The zip installed offline; run_autograder finds the files anywhere in the submission,
    ignores the stubs shipped with the graders, scores a missing file 0 with a message that
    says so, and gives the reference full marks for the rest."""
    results, output, _ = graded["gradescope reference"]
    missing = EXERCISES[-1]
    label = f"{missing.number}."
    lost = [t for t in results["tests"] if t["name"].startswith(label)]
    assert lost and all(t["status"] == "failed" for t in lost)
    assert all(f"{missing.filename} is missing" in t["output"] for t in lost), lost[0]["output"]
    kept = [t for t in results["tests"] if not t["name"].startswith(label)]
    failed = [f"{t['name']}:\n{t['output'][-2000:]}" for t in kept if t["status"] != "passed"]
    assert not failed, "\n\n".join(failed) + output[-3000:]
    assert results["score"] == sum(t["max_score"] for t in kept) > 0
    assert f"not submitted: {missing.filename}" in output
    assert "grading: your code runs in a separate process" in output
    if os.geteuid() == 0:
        assert "the unprivileged user nobody" in output, output[:3000]


def test_stubs_score_zero(graded):
    results, stdout, _ = graded["stubs"]
    passed = [t["name"] for t in results["tests"] if t["status"] == "passed"]
    assert not passed, f"tests that the untouched stubs pass: {passed}"
    assert results["score"] == 0 and _max_points(results) > 0
    assert TOTAL.search(stdout).group(1) == "0"
    graded_exercises = {t["name"].split(": ", 1)[0] for t in results["tests"]}
    assert len(graded_exercises) == len(EXERCISES), graded_exercises
    for t in results["tests"]:
        assert "NotImplementedError: Exercise " in t["output"], t["name"]


@pytest.mark.parametrize("cheat", CHEATS, ids=lambda c: c.name)
@pytest.mark.parametrize("path", ["pytest", "gradescope"])
def test_cheating_scores_zero(cheat, path, graded):
    results, output, _ = graded[("cheat", cheat.name, path)]
    earned = {t["name"]: t["score"] for t in results["tests"] if t["score"]}
    assert results["score"] == 0 and not earned, f"{cheat.what}: {earned}\n{output[-3000:]}"
    assert _max_points(results) > 0
    if cheat.name == "read expected" and path == "gradescope" and os.geteuid() == 0:
        assert "CHEAT could not read" in output and "CHEAT read" not in output, output[-3000:]
    if cheat.name == "write results" and path == "gradescope" and os.geteuid() == 0:
        assert "CHEAT could not write the results file" in output, output[-3000:]


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


def _test_name(entry: dict) -> str:
    return entry["name"].split(": ", 1)[-1]


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
