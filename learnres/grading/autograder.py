"""Build the Gradescope autograder zip (``exercises/autograder/make_autograder.sh`` runs this).

    python -m learnres.grading.autograder autograder.zip [--seed N] [--pythons 3.11 3.12]

The zip, and what each part is for::

    setup.sh            Gradescope runs it once: a venv in /autograder/venv, installed OFFLINE
                        from wheelhouse/ (no PyTorch: the grader replays recorded values)
    run_autograder      grades one submission (the student's code in a child process, as the
                        user nobody; this process alone scores and writes results.json)
    wheelhouse/         learnres (built here, without the solution builder) and the wheels it
                        and pytest need, for every Python version in --pythons
    exercises/          the graders, conftest.py, pytest.ini, grading.json (no stubs)
    cases.json.gz       the expected values of this zip's random cases (a new seed per build),
                        recorded from learnres's reference solution and PyTorch

Building needs what the instructor's checkout has: learnres, PyTorch (for the expected values),
pytest, and pip (it downloads the wheels). It needs no ``wheel`` or ``build`` package: the
learnres wheel is a zip file written here. Before the zip is written, the reference solution is
graded on the new cases and must score full marks.

What the zip leaves out: the exercise stubs and their solutions, and the modules that make
solutions (``learnres.grading.exercises``, ``generate``, ``mutants``, and this one). The
library itself is inside (the exercises build on it); exercises/README.md says how a
submission is kept from using the parts of it that solve its own exercise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

__all__ = ["BUILDER_MODULES", "build_autograder", "build_wheel", "main"]

BUILDER_MODULES = ("exercises.py", "generate.py", "mutants.py", "autograder.py")
"""Modules of learnres/grading/ that stay out of the zip: they make solutions (or this zip)."""

RUNTIME = ("pytest>=8", "pytest-timeout>=2.3")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(repo: Path, out_dir: Path) -> Path:
    """A pure-Python wheel of ``repo``'s learnres package, without ``BUILDER_MODULES``.

    Written with ``zipfile`` (the wheel format is a zip with a ``.dist-info`` folder), so no
    ``wheel``, ``setuptools`` or network is needed.
    """
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name, version = project["name"], project["version"]
    dist_info = f"{name}-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    package = repo / "learnres"
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(repo).as_posix()
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if path.parent == package / "grading" and path.name in BUILDER_MODULES:
            continue
        files.append((relative, path.read_bytes()))
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.11')}",
    ]
    metadata += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    scripts = project.get("scripts", {})
    plugins = project.get("entry-points", {}).get("pytest11", {})
    entry_points = ["[console_scripts]", *(f"{k} = {v}" for k, v in scripts.items()), ""]
    entry_points += ["[pytest11]", *(f"{k} = {v}" for k, v in plugins.items()), ""]
    files += [
        (f"{dist_info}/METADATA", ("\n".join(metadata) + "\n").encode()),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: learnres.grading.autograder\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{dist_info}/entry_points.txt", "\n".join(entry_points).encode()),
    ]
    record = [_record_line(n, d) for n, d in files] + [f"{dist_info}/RECORD,,"]
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for relative, data in files:
            info = zipfile.ZipInfo(relative, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return wheel


def download_wheels(repo: Path, wheelhouse: Path, pythons: list[str]) -> None:
    """Binary wheels of learnres's dependencies and of pytest, for Linux x86_64 and each of
    ``pythons`` (``pip download``, through whatever index pip is configured with)."""
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project.get("dependencies", []), *RUNTIME]
    for version in pythons:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
            str(wheelhouse),
            "--python-version",
            version,
            "--implementation",
            "cp",
        ]
        for platform in PLATFORMS:
            command += ["--platform", platform]
        subprocess.run(command + requirements, check=True)


def record_cases(repo: Path, stage: Path, seed: int) -> None:
    """Grade the reference solution on this zip's cases and record the expected values;
    fail unless it scores full marks."""
    work = stage / "record"
    ignore = shutil.ignore_patterns("__pycache__", "autograder", "*.pyc")
    shutil.copytree(repo / "exercises", work / "exercises", ignore=ignore)
    results = work / "results.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "exercises",
        "--reference",
        "--seed",
        str(seed),
        "--record-cases",
        str(stage / "cases.json.gz"),
        "--gradescope-json",
        str(results),
        "-p",
        "no:cacheprovider",
        "-q",
        "-p",
        "no:nbmake",
        "-p",
        "no:hypothesispytest",
    ]
    run = subprocess.run(command, cwd=work, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(
            f"the reference solution did not score full marks on the new cases (seed {seed}):\n"
            + run.stdout[-4000:]
            + run.stderr[-2000:]
        )
    shutil.rmtree(work)


def build_autograder(
    out: Path, seed: int | None = None, pythons: list[str] | None = None, repo: Path | None = None
) -> Path:
    """Write the autograder zip to ``out`` (its folder is created); return its path."""
    repo = (repo or Path(__file__).resolve().parents[2]).resolve()
    if not (repo / "pyproject.toml").is_file() or not (repo / "exercises").is_dir():
        raise SystemExit(f"{repo} is not a learnres checkout (no pyproject.toml or exercises/)")
    seed = secrets.randbelow(2**31) if seed is None else seed
    pythons = pythons or ["3.11", "3.12"]
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="learnres-autograder-") as tmp:
        stage = Path(tmp)
        record_cases(repo, stage, seed)
        wheelhouse = stage / "wheelhouse"
        build_wheel(repo, wheelhouse)
        download_wheels(repo, wheelhouse, pythons)
        graders = stage / "exercises"
        graders.mkdir()
        for path in sorted((repo / "exercises").iterdir()):
            if path.name in ("conftest.py", "pytest.ini", "grading.json") or (
                path.name.startswith("test_") and path.suffix == ".py"
            ):
                shutil.copyfile(path, graders / path.name)
        here = repo / "exercises" / "autograder"
        for name in ("setup.sh", "run_autograder"):
            shutil.copyfile(here / name, stage / name)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(stage.rglob("*")):
                if path.is_file():
                    relative = path.relative_to(stage).as_posix()
                    info = zipfile.ZipInfo.from_file(path, relative)
                    mode = 0o755 if path.name in ("setup.sh", "run_autograder") else 0o644
                    info.external_attr = mode << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, path.read_bytes())
        os.replace(partial, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learnres.grading.autograder",
        description="Build the Gradescope autograder zip (see exercises/README.md).",
    )
    parser.add_argument("out", nargs="?", default="autograder.zip", help="the zip to write")
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the zip's random cases (default: a new one)"
    )
    parser.add_argument(
        "--pythons",
        nargs="+",
        default=["3.11", "3.12"],
        help="Pythons to fetch wheels for (default: 3.11 3.12)",
    )
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401 (the expected values are computed with PyTorch)
    except ImportError:
        print(
            "make_autograder needs PyTorch to record the expected values: "
            "pip install torch --index-url https://download.pytorch.org/whl/cpu",
            file=sys.stderr,
        )
        return 2
    out = build_autograder(Path(args.out), args.seed, args.pythons)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
    size = out.stat().st_size / 2**20
    print(f"wrote {out} ({size:.1f} MiB, {len(names)} files):")
    for name in names:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
