"""Project set-up: environment.yml in step with pyproject.toml; CI runs the README's command."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name
NOT_IN_CONDA_ENV = {"cupy-cuda12x", "cupy-cuda13x"}  # conda: cupy for the CUDA they have


def _requirement(text: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", text).groups()
    return name.lower(), spec.replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    pairs = (_requirement(r) for r in reqs)
    return {CONDA_NAMES.get(n, n): s for n, s in pairs if n not in NOT_IN_CONDA_ENV}


def environment_requirements() -> dict[str, str]:
    """The conda (not pip) dependencies of environment.yml, without needing a YAML parser."""
    reqs, section = {}, None
    for line in (REPO / "environment.yml").read_text().splitlines():
        line = line.split("#")[0].rstrip()
        if m := re.match(r"^(\w+):", line):
            section = m.group(1)
        elif section == "dependencies" and (m := re.match(r"^  - ([^:]+)$", line)):
            name, spec = _requirement(m.group(1))
            if name not in ("python", "pip"):
                reqs[name] = spec
    return reqs


def test_environment_yml_matches_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_torch_is_a_range_not_a_pin():
    spec = pyproject_requirements()["pytorch"]
    assert "==" not in spec and ">=" in spec


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_command = re.search(r"^(bash run\.sh test)\s*(#.*)?$", readme, re.MULTILINE)
    assert test_command, "README's Quickstart must show the test command"
    assert test_command.group(1) in ci.splitlines()


def test_setup_installs_torch_before_the_extras():
    script = (REPO / "run.sh").read_text()
    assert script.index("pip install -q torch==2.13.0") < script.index("pip install -q -e")


def test_ruff_is_clean():
    """``ruff check .`` passes with the rules in pyproject.toml ([tool.ruff.lint])."""
    pytest.importorskip("ruff")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"ruff check . found problems:\n{done.stdout}{done.stderr}"


def test_ruff_format_is_clean():
    """``ruff format --check .``: one layout for the whole tree ([tool.ruff.format] says which
    files are exempt, and why)."""
    pytest.importorskip("ruff")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (
        f"ruff format --check . wants to reformat files (run `ruff format .`):\n"
        f"{done.stdout}{done.stderr}"
    )


def _fmt_skips_outside_all(source: str) -> list[int]:
    """Lines of ``# fmt: skip`` markers that do not close an ``__all__ = [...]`` grouping."""
    tree = ast.parse(source)
    grouped = {
        node.end_lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    }
    return [
        number
        for number, line in enumerate(source.splitlines(), 1)
        if line.rstrip().endswith("# fmt: skip") and number not in grouped
    ]


def test_fmt_skip_only_keeps_the_grouped_export_lists():
    """The formatter lays out everything but the ``__all__`` lists, whose names are grouped by
    kind, one group a line (a table a reader scans)."""
    assert _fmt_skips_outside_all('__all__ = [\n    "a", "b",\n    "c",\n]  # fmt: skip\n') == []
    assert _fmt_skips_outside_all("x = f(1,\n      2)  # fmt: skip\n") == [2]  # the check bites
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    found = {
        name: lines
        for name in tracked
        if not name.startswith("chapters/")  # exempt from the formatter ([tool.ruff.format])
        and (lines := _fmt_skips_outside_all((REPO / name).read_text()))
    }
    assert found == {}, f"# fmt: skip outside an __all__ list (file: lines): {found}"


def test_one_cupy_extra_per_cuda_major_and_gpu_is_the_recommended_one():
    """cuda12/cuda13 install CuPy >= 14 for that CUDA major; ``gpu`` is an alias of the one
    the README recommends; environment.yml's GPU line asks for the same CuPy; the doctor
    names the same extras."""
    from learnres.doctor import CUDA_EXTRAS, MIN_CUPY

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for major, extra in CUDA_EXTRAS.items():
        assert extras[extra] == [f"cupy-cuda{major}x>={MIN_CUPY}"]
    readme = (REPO / "README.md").read_text()
    recommended = re.search(r"pip install -e '\.\[(cuda\d+)\]'\s+# .*recommended", readme)
    assert recommended, "the README's install section must recommend one CUDA extra"
    assert extras["gpu"] == extras[recommended.group(1)]
    assert f'"cupy>={MIN_CUPY}"' in (REPO / "environment.yml").read_text()
