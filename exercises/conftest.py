"""Loads the module each grader checks: your file in exercises/, or with ``--reference``
learnres's own solution (the same file with the reference bodies in place of the stubs).

A grader names its file with ``MODULE = "ex1_autograd"`` and takes the ``exercise`` fixture:

    def test_mul_backward(exercise):
        exercise.Mul()...

If your file does not import (a syntax error, say), every test of that exercise fails with
the error, and the other exercises are graded as usual.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_loaded: dict[str, object] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reference",
        action="store_true",
        default=False,
        help="grade learnres's reference solution instead of the files in exercises/",
    )


def pytest_report_header(config: pytest.Config) -> str:
    if config.getoption("reference"):
        return "grading: learnres's reference solution (--reference)"
    return f"grading: the exercise files in {HERE}"


def _load(slug: str):
    path = HERE / f"{slug}.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path.name} is missing: this exercise is graded from that file")
    spec = importlib.util.spec_from_file_location(slug, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[slug] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[slug]
        raise
    return module


@pytest.fixture(scope="module")
def exercise(request: pytest.FixtureRequest):
    """The module under test: ``exercises/<MODULE>.py``, or the reference with --reference."""
    slug = request.module.MODULE
    if slug not in _loaded:
        try:
            if request.config.getoption("reference"):
                from learnres.grading.exercises import solution_module

                _loaded[slug] = solution_module(slug)
            else:
                _loaded[slug] = _load(slug)
        except FileNotFoundError as e:
            _loaded[slug] = str(e)
        except Exception:  # noqa: BLE001 (any error in a student's file: shown in each test)
            _loaded[slug] = traceback.format_exc(limit=-3)
    module = _loaded[slug]
    if isinstance(module, str):
        pytest.fail(f"could not load exercises/{slug}.py:\n{module}", pytrace=False)
    return module
