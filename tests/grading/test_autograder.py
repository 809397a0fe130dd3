"""The learnres wheel of the autograder zip, written without ``wheel`` or ``build``
(learnres.grading.autograder). The whole zip is built and dry-run in test_exercises.py."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

from learnres.grading.autograder import BUILDER_MODULES, build_wheel

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_package_but_not_the_solution_builder(tmp_path):
    wheel = build_wheel(REPO, tmp_path)
    assert wheel.name == "learnres-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        record = list(csv.reader(io.StringIO(z.read("learnres-0.1.0.dist-info/RECORD").decode())))
        entry_points = z.read("learnres-0.1.0.dist-info/entry_points.txt").decode()
        metadata = z.read("learnres-0.1.0.dist-info/METADATA").decode()
        for name, digest, size in record:
            if name.endswith("RECORD"):
                continue
            data = z.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}" and int(size) == len(data), name
    assert {r[0] for r in record} == set(names)
    assert "learnres/grading/guard.py" in names and "learnres/nn/blocks.py" in names
    assert not any("__pycache__" in n for n in names)
    for builder in BUILDER_MODULES:
        assert f"learnres/grading/{builder}" not in names
    assert "learnres_grading = learnres.grading.plugin" in entry_points
    assert "learnres = learnres.cli:main" in entry_points
    assert "Requires-Dist: numpy>=2.0,<3" in metadata


def test_pip_installs_the_wheel_and_its_plugin_loads(tmp_path):
    wheel = build_wheel(REPO, tmp_path / "dist")
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.metadata as m, learnres.grading.plugin, sys; "
            "eps = m.entry_points(group='pytest11'); "
            "print(sorted(e.value for e in eps if e.name == 'learnres_grading'))",
        ],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stderr
    assert "learnres.grading.plugin" in check.stdout
    try:
        import learnres.grading.exercises  # noqa: F401 (in the checkout, not in the wheel)
    except ImportError:  # pragma: no cover
        raise AssertionError("the checkout lost the exercise generator") from None
    assert not (target / "learnres" / "grading" / "exercises.py").exists()
