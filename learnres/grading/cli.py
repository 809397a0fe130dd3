"""``learnres grade``: grade one exercise (or all) from a terminal or a notebook cell.

    learnres grade ex3                     # exercises/test_ex3_*.py, with the score table
    learnres grade                         # every exercise
    learnres grade 3 --seed 1234           # the random cases of an earlier run
    learnres grade 3 --hint 3.3 --level 2  # the hints of part 3.3, levels 1 and 2

In JupyterLab, ``!learnres grade ex3`` in a cell, or from Python::

    from learnres.grading import grade, hint
    grade("ex3")        # prints pytest's report and the score table; returns pytest's exit code
    hint("3.3", 2)

Grading runs ``pytest`` on the exercises folder in a fresh process, so what the notebook has
imported (an older version of your file, say) does not matter: the file on disk is graded.
The folder is ``folder`` if given, else ``$LEARNRES_EXERCISES``, else the first ``exercises``
folder found from the current folder upwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_arguments", "exercises_folder", "grade", "main"]


def exercises_folder(folder: str | os.PathLike | None = None) -> Path:
    """Where the exercises are (see the module docstring)."""
    if folder is not None:
        path = Path(folder)
    elif os.environ.get("LEARNRES_EXERCISES"):
        path = Path(os.environ["LEARNRES_EXERCISES"])
    else:
        here = Path.cwd().resolve()
        found = [p / "exercises" for p in (here, *here.parents)]
        path = next((p for p in found if (p / "conftest.py").is_file()), here / "exercises")
    if not (path / "conftest.py").is_file():
        raise FileNotFoundError(
            f"no exercises folder at {path} (it holds conftest.py and the test_ex*.py graders): "
            "run this from the folder that holds exercises/, or pass folder= / --folder, or set "
            "LEARNRES_EXERCISES"
        )
    return path.resolve()


def _grader(folder: Path, which) -> Path:
    """The grader of exercise ``which`` (3, "3", "ex3", "ex3_batchnorm", "test_ex3...")."""
    text = str(which).strip().removeprefix("test_").removesuffix(".py")
    number = text.removeprefix("ex").split("_", 1)[0]
    if not number.isdigit():
        raise ValueError(f"which exercise? expected a number or a name like ex3, got {which!r}")
    found = sorted(folder.glob(f"test_ex{int(number)}_*.py"))
    if not found:
        known = ", ".join(p.stem.removeprefix("test_") for p in sorted(folder.glob("test_ex*.py")))
        raise ValueError(f"no exercise {which!r} in {folder}; there are: {known}")
    return found[0]


def grade(which=None, folder=None, *, seed: int | None = None, args: tuple = ()) -> int:
    """Grade exercise ``which`` (or all with None) and print pytest's report with the score
    table; returns pytest's exit code (0 when every test passed)."""
    where = exercises_folder(folder)
    target = where if which in (None, "all") else _grader(where, which)
    command = [sys.executable, "-m", "pytest", str(target), "-p", "no:cacheprovider"]
    if seed is not None:
        command += ["--seed", str(seed)]
    command += list(args)
    process = subprocess.Popen(
        command,
        cwd=where.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    for line in process.stdout:  # printed as it comes, so a notebook shows progress
        print(line, end="", flush=True)
    return process.wait()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "exercise",
        nargs="?",
        default=None,
        help="ex3, 3 or ex3_batchnorm (default: every exercise)",
    )
    parser.add_argument("--folder", default=None, help="the exercises folder")
    parser.add_argument("--seed", type=int, default=None, help="repeat the cases of run N")
    parser.add_argument("--hint", default=None, metavar="PART", help="print hints (e.g. 3.3)")
    parser.add_argument("--level", type=int, default=1, help="hint levels to show (1-3)")


def main(args) -> int:
    if args.hint:
        from learnres.grading.hints import format_hints, unknown_parts

        print(format_hints([args.hint], args.level))
        return 2 if unknown_parts([args.hint]) else 0
    try:
        return grade(args.exercise, args.folder, seed=args.seed)
    except (FileNotFoundError, ValueError) as e:
        print(f"learnres grade: {e}", file=sys.stderr)
        return 2
