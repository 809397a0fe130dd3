"""The process that runs a submission for ``pytest exercises/ --isolate`` (Gradescope).

    python -m learnres.grading.child --slug ex3_batchnorm --folder DIR --fd-in N --fd-out M

``DIR`` holds the submission (``ex3_batchnorm.py``), the graders (``test_*.py``, for their
runner functions) and ``grading.json``. The child imports the submission under the guard
(``learnres.grading.guard``), answers ``{"ready": true}`` (or ``{"load_error": text}``), then
for each request ``{"runner": [module, name], "args": [...], "given": [...]}`` read from fd N
runs ``runner(module, *args)`` with the guard armed and writes one line to fd M:
``{"value": ...}``, ``{"error": traceback}`` or ``{"violation": why}``. Requests and answers
are plain data (``learnres.grading.plain``); the grading process never unpickles or imports
anything from here, and it decides every score itself.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from learnres.grading.guard import Guard, seal_process
from learnres.grading.harness import load_specs, student_error
from learnres.grading.plain import PlainDataError, dumps, loads

__all__ = ["main"]


def _resolve(module_name: str, qualname: str, folder: Path):
    """A grader's runner function by module and name (graders are in ``folder``)."""
    if not (module_name.startswith("test_") or module_name.startswith("learnres.grading.")):
        raise ValueError(f"runners come from graders or learnres.grading, not {module_name!r}")
    if "." in qualname:
        raise ValueError(f"a runner is a module-level function, not {qualname!r}")
    if module_name.startswith("test_") and not (folder / f"{module_name}.py").is_file():
        raise ValueError(f"no grader {module_name}.py")
    return getattr(importlib.import_module(module_name), qualname)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m learnres.grading.child")
    parser.add_argument("--slug", required=True)
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--fd-in", required=True, type=int)
    parser.add_argument("--fd-out", required=True, type=int)
    args = parser.parse_args(argv)
    folder = args.folder.resolve()
    sys.path.insert(0, str(folder))
    requests = os.fdopen(args.fd_in, "r", encoding="utf-8")
    answers = os.fdopen(args.fd_out, "w", encoding="utf-8")

    def send(message: dict) -> None:
        answers.write(dumps(message) + "\n")
        answers.flush()

    spec = load_specs(folder)[args.slug]
    path = folder / f"{args.slug}.py"
    trusted = frozenset(str(p) for p in folder.glob("test_*.py"))
    guard = Guard(spec, str(path), trusted)
    for name in ("learnres.grading.checks", "learnres.grading.plain"):  # what runners need
        importlib.import_module(name)
    seal_process(spec)
    try:
        module = guard.load(args.slug, path)
    except Exception as e:  # noqa: BLE001 (the student's file: the error is the answer)
        send({"load_error": student_error(e, skip=0)})
        return 0
    send({"ready": True, "refused": guard.refused})
    for line in requests:
        try:
            request = loads(line)
            runner = _resolve(*request["runner"], folder)
            call_args = tuple(request["args"])
            given = tuple(str(g) for g in request["given"])
        except (PlainDataError, KeyError, TypeError, ValueError, AttributeError) as e:
            send({"error": f"the grader sent a request the child could not read: {e}"})
            continue
        guard.violations.clear()
        undo = guard.give(module, given)
        try:
            with guard.armed(given):
                value = runner(module, *call_args)
            answer = {"value": value}
        except Exception as e:  # noqa: BLE001 (the student's error is the answer)
            answer = {"error": student_error(e)}
        finally:
            undo()
        if guard.violations:
            answer = {"violation": guard.violations[0]}
        try:
            send(answer)
        except (TypeError, ValueError) as e:
            send({"error": f"your code's answer could not be sent back: {e}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
