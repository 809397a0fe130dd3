"""The chapters read and write beside themselves, not beside the installed package.

A student opens a chapter in JupyterLab, whose kernel runs in the notebook's folder; so
``learnres.lectures.config`` finds the chapters folder from the working directory: figures
go to ``<chapters>/_build/figures``, stored runs come from ``<chapters>/runs``, whether
learnres was installed with ``pip install -e .`` or ``pip install .``. The last test runs
chapter 1 from a copy of ``chapters/`` outside the checkout, with each kind of install, and
checks that nothing was written anywhere but in the copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from learnres.lectures.build import chapter_paths, execute_chapter
from learnres.lectures.config import (
    chapters_dir,
    data_dir,
    figures_dir,
    holds_chapters,
    repo_root,
    runs_dir,
)
from learnres.lectures.runs import stored_run
from learnres.train.metrics import MetricsHistory

SOURCE = chapter_paths()[0].parent  # the chapters this test suite belongs to
FOLDER_VARIABLES = (
    "LEARNRES_CHAPTERS_DIR",
    "LEARNRES_FIGURES_DIR",
    "LEARNRES_RUNS_DIR",
    "LEARNRES_DATA_DIR",
)


def copy_chapters(dest: Path) -> Path:
    """A copy of the chapter sources, their stored runs and their settings at ``dest``
    (nothing built)."""
    ignore = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__")
    shutil.copytree(SOURCE, dest, ignore=ignore)
    return dest


def write_run(folder: Path, test_error: float) -> Path:
    """A stored run with two logged rows (the format ``learnres train`` writes)."""
    folder.mkdir(parents=True)
    history = MetricsHistory()
    history.record(10, epoch=0.5, lr=0.1, train_loss=2.0, train_error=80.0)
    history.record(
        20,
        epoch=1.0,
        lr=0.1,
        train_loss=1.5,
        train_error=60.0,
        test_loss=1.6,
        test_error=test_error,
    )
    history.write_csv(folder / "metrics.csv")
    (folder / "command.txt").write_text(f"learnres train --out runs/{folder.name}\n")
    return folder


@pytest.fixture
def no_folder_variables(monkeypatch):
    for name in FOLDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_a_copy_of_the_chapters_uses_its_own_folders(tmp_path, monkeypatch, no_folder_variables):
    copy = copy_chapters(tmp_path / "course" / "chapters")
    write_run(copy / "runs" / "only-here", test_error=42.0)
    monkeypatch.chdir(copy)
    assert chapters_dir() == copy.resolve()
    assert runs_dir() == copy.resolve() / "runs"
    assert figures_dir() == copy.resolve() / "_build" / "figures" and figures_dir().is_dir()
    assert stored_run("only-here").path == copy.resolve() / "runs" / "only-here"
    assert stored_run("only-here").final() == 42.0
    monkeypatch.chdir(copy / "runs" / "only-here")  # a notebook in a subfolder
    assert chapters_dir() == copy.resolve() and figures_dir().parent.parent == copy.resolve()
    monkeypatch.chdir(copy.parent)  # a command run from the folder above (the repository)
    assert chapters_dir() == copy.resolve() and runs_dir() == copy.resolve() / "runs"


def test_outside_any_chapters_folder_figures_stay_in_the_working_directory(
    tmp_path, monkeypatch, no_folder_variables
):
    """A notebook in a folder of its own (and ``01_notes.py``, a script without a jupytext
    header, does not make a chapters folder) writes its figures under that folder, never
    into the checkout learnres came from."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "01_notes.py").write_text("print('not a chapter')\n")
    assert not holds_chapters(scratch) and holds_chapters(SOURCE)
    monkeypatch.chdir(scratch)
    assert figures_dir() == scratch.resolve() / "_build" / "figures"
    assert repo_root() not in figures_dir().parents


def test_the_environment_names_other_folders(tmp_path, monkeypatch, no_folder_variables):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEARNRES_CHAPTERS_DIR", str(tmp_path / "ch"))
    assert chapters_dir() == tmp_path / "ch" and runs_dir() == tmp_path / "ch" / "runs"
    assert figures_dir() == tmp_path / "ch" / "_build" / "figures"
    monkeypatch.setenv("LEARNRES_RUNS_DIR", str(tmp_path / "r"))
    monkeypatch.setenv("LEARNRES_FIGURES_DIR", str(tmp_path / "f"))
    assert runs_dir() == tmp_path / "r" and figures_dir() == tmp_path / "f"


def test_data_is_found_beside_the_repository_of_the_chapters(
    tmp_path, monkeypatch, no_folder_variables
):
    copy = copy_chapters(tmp_path / "repo" / "chapters")
    shared = tmp_path / "shared" / "datasets"
    shared.mkdir(parents=True)
    monkeypatch.chdir(copy)
    assert data_dir() == shared
    monkeypatch.setenv("LEARNRES_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data_dir() == tmp_path / "elsewhere"


# ---- a chapter run from a copy, with each kind of install --------------------------------


def _files(root: Path) -> dict:
    """``{relative path: (size, mtime_ns)}`` of every file under ``root`` (bytecode caches
    left out: importing a package may write them)."""
    if not root.exists():
        return {}
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def _git_status(root: Path) -> str | None:
    if shutil.which("git") is None or not (root / ".git").exists():
        return None
    done = subprocess.run(
        ["git", "status", "--porcelain", "--ignored"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else None


def _pip_install(tmp_path: Path) -> Path:
    """``pip install .`` (not editable) of this source tree into a folder of its own; the
    build runs on a copy of the sources so that it leaves nothing in the checkout."""
    pytest.importorskip("setuptools", reason="pip install . here builds with setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo_root() / name, source / name)
    shutil.copytree(
        repo_root() / "learnres", source / "learnres", ignore=shutil.ignore_patterns("__pycache__")
    )
    site = tmp_path / "site"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        "--target",
        str(site),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return site


PROBE = """
import json, learnres
from learnres.lectures import chapters_dir, figures_dir, runs_dir, stored_run
print("PROBE " + json.dumps({{
    "learnres": learnres.__file__, "chapters": str(chapters_dir()),
    "runs": str(runs_dir()), "figures": str(figures_dir()),
    "only_here": str(stored_run("only-here").path) if stored_run("only-here") else None,
    "removed": str(stored_run("{removed}").path) if stored_run("{removed}") else None,
}}))
"""


@pytest.mark.timeout(900)
@pytest.mark.parametrize("install", ["editable", "pip install ."])
def test_a_chapter_run_from_a_copy_writes_only_inside_the_copy(
    install, tmp_path, no_folder_variables
):
    if install == "pip install .":
        site = _pip_install(tmp_path)  # what goes on sys.path
        package, installed = site / "learnres", site
    else:
        site = repo_root()
        package = installed = repo_root() / "learnres"
    copy = copy_chapters(tmp_path / "course" / "chapters").resolve()
    write_run(copy / "runs" / "only-here", test_error=42.0)
    stored = sorted(p.parent.name for p in (SOURCE / "runs").glob("*/metrics.csv"))
    removed = stored[0] if stored else "no-such-run"
    shutil.rmtree(copy / "runs" / removed, ignore_errors=True)  # in the checkout, not here
    chapter = copy / chapter_paths()[0].name
    with open(chapter, "a") as f:  # a last cell that reports what the kernel resolved
        f.write("\n# %%\n" + PROBE.format(removed=removed))
    watched = {"checkout's chapters": SOURCE, "installed package": installed}
    before = {name: _files(root) for name, root in watched.items()}
    status = _git_status(repo_root())

    kernel_env = {"PYTHONPATH": str(site), **dict.fromkeys(FOLDER_VARIABLES)}  # None: unset
    run = execute_chapter(chapter, quick=True, timeout=600, env=kernel_env)

    errors = [
        o
        for c in run.notebook.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    text = "".join(o.get("text", "") for c in run.notebook.cells for o in c.get("outputs", []))
    probe = json.loads(text.split("PROBE ", 1)[1].splitlines()[0])
    assert Path(probe["learnres"]).resolve().is_relative_to(package.resolve()), probe
    assert probe["chapters"] == str(copy) and probe["runs"] == str(copy / "runs")
    assert probe["figures"] == str(copy / "_build" / "figures")
    assert probe["only_here"] == str(copy / "runs" / "only-here")
    assert probe["removed"] is None  # the copy's runs, not the checkout's
    made = sorted(p.name for p in (copy / "_build" / "figures").iterdir())
    assert made == ["01_finite_differences.png", "01_graph.png"]
    for name, root in watched.items():
        assert _files(root) == before[name], f"the chapter wrote into the {name} ({root})"
    assert _git_status(repo_root()) == status
