"""Ways to cheat, each written into the untouched stubs of every exercise: the graders must
give every one of them 0 points, through ``pytest exercises/`` and through Gradescope's
``run_autograder`` (``tests/grading/test_exercises.py`` runs them both ways).

Each cheat is a function ``(exercise spec, stub text, context) -> submission text``; the spec
names the exercise's units (module, name) and parts (number, target), so one cheat is written
for all exercises at once. ``context`` holds paths a cheat aims at (the results file).
"""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CHEATS", "Cheat"]


@dataclass(frozen=True)
class Cheat:
    name: str
    what: str
    write: Callable[[object, str, dict], str]
    stops_it: str  # what stops it, for the table


def _units(spec, kinds=(type, types.FunctionType)):
    """(module, name, object) of the exercise's functions and classes."""
    for module, name in spec.units:
        obj = getattr(importlib.import_module(module), name)
        if isinstance(obj, kinds):
            yield module, name, obj


def _import_the_solution(spec, stub, context):
    lines = [f"from {module} import {name}  # learnres's own" for module, name, _ in _units(spec)]
    return stub + "\n" + "\n".join(lines) + "\n"


def _take_it_from_sys_modules(spec, stub, context):
    lines = ["import sys as _sys"]
    lines += [f"{name} = _sys.modules[{module!r}].{name}" for module, name, _ in _units(spec)]
    return stub + "\n" + "\n".join(lines) + "\n"


def _subclass_it(spec, stub, context):
    lines = ["import sys as _sys"]
    for module, name, obj in _units(spec):
        if isinstance(obj, type):
            lines += [f"class {name}(_sys.modules[{module!r}].{name}):", "    pass"]
        else:
            lines.append(f"{name} = _sys.modules[{module!r}].{name}")
    return stub + "\n" + "\n".join(lines) + "\n"


def _delegate_at_run_time(spec, stub, context):
    lines = ["import sys as _sys"]
    for k, (_, target) in enumerate(spec.parts):
        owner, _, method = target.partition(".")
        module = spec.unit_module(owner)
        if method:
            lines += [
                f"def _delegate_{k}(self, *args, **kwargs):",
                f"    return _sys.modules[{module!r}].{owner}.{method}(self, *args, **kwargs)",
                f"{owner}.{method} = _delegate_{k}",
            ]
        else:
            lines += [
                f"def {owner}(*args, **kwargs):",
                f"    return _sys.modules[{module!r}].{owner}(*args, **kwargs)",
            ]
    return stub + "\n" + "\n".join(lines) + "\n"


def _use_torch(spec, stub, context):
    return "import torch  # PyTorch computes it all\n" + stub


def _exec_the_library_source(spec, stub, context):
    modules = sorted({module for module, _, _ in _units(spec)})
    lines = ["import inspect as _inspect", "import sys as _sys"]
    lines += [
        f"exec(compile(_inspect.getsource(_sys.modules[{m!r}]), __file__, 'exec'), globals())"
        for m in modules
    ]
    return stub + "\n" + "\n".join(lines) + "\n"


def _forge_the_scoreboard(spec, stub, context):
    return (
        stub
        + inspect.cleandoc(
            """
        import gc as _gc
        import sys as _sys
        _board = _sys.modules.get("learnres.grading.scoreboard")
        if _board is not None:  # every test passed, with all its points
            _board.GradedTest.status = property(lambda test: "passed")
            _board.GradedTest.points = property(lambda test: test.max_points)
        for _obj in _gc.get_objects():
            if type(_obj).__name__ == "GradingPlugin":
                _obj.board.total = lambda: (1000.0, 1000.0)
        """
        )
        + "\n"
    )


_ANSWERS = {
    "ex5_bottleneck": """
def conv_mult_adds(in_channels, out_channels, kernel, out_height, out_width):
    return {(64, 64, 3, 56, 56): 115605504}.get(
        (in_channels, out_channels, kernel, out_height, out_width), 0)
""",
    "ex6_sgd": """
def scaled_milestones(iterations=64000):
    return {64000: (32000, 48000), 2000: (1000, 1500), 10: (5, 8), 100: (50, 75)}[iterations]


def _lr(self, iteration):
    return {0: 0.1, 1: 0.1, 31999: 0.1, 32000: 0.01, 40000: 0.01, 47999: 0.01,
            48000: 0.001, 63999: 0.001}.get(iteration, 0.1)


StepSchedule.lr = _lr
""",
    "ex9_cifar_resnet": """
def blocks_per_stage(depth):
    return {20: 3, 32: 5, 44: 7, 56: 9, 110: 18, 1202: 200, 8: 1}[depth]
""",
}


def _hard_code_the_public_cases(spec, stub, context):
    return stub + _ANSWERS.get(spec.slug, "")


def _read_the_expected_values(spec, stub, context):
    paths = [context["cases"], context["source"]]
    return (
        stub
        + inspect.cleandoc(
            f"""
        for _path in {paths!r}:
            try:
                with open(_path, "rb") as _f:
                    print("CHEAT read", _path, len(_f.read()), "bytes")
            except OSError as _e:
                print("CHEAT could not read", _path, type(_e).__name__)
        """
        )
        + "\n"
    )


def _write_the_results(spec, stub, context):
    return (
        stub
        + inspect.cleandoc(
            f"""
        import json as _json
        try:
            with open({context["results"]!r}, "w") as _f:
                _json.dump({{"score": 1000, "tests": []}}, _f)
            print("CHEAT wrote the results file")
        except OSError as _e:
            print("CHEAT could not write the results file", type(_e).__name__)
        """
        )
        + "\n"
    )


def _exit_the_process(spec, stub, context):
    return stub + "import os as _os\n_os._exit(0)\n"


CHEATS: tuple[Cheat, ...] = (
    Cheat(
        "import",
        "import learnres's solution over the stubs",
        _import_the_solution,
        "the import is refused (guard, rule 1)",
    ),
    Cheat(
        "sys.modules",
        "take learnres's objects from sys.modules",
        _take_it_from_sys_modules,
        "provenance: not the file's code (rule 2)",
    ),
    Cheat(
        "subclass",
        "subclass learnres's classes, inheriting the parts",
        _subclass_it,
        "provenance of each method part (rule 2)",
    ),
    Cheat(
        "delegate",
        "own functions that call learnres's at run time",
        _delegate_at_run_time,
        "tripwires: learnres's parts are off while graded (rule 3)",
    ),
    Cheat(
        "torch",
        "compute it with PyTorch",
        _use_torch,
        "the import is refused; no PyTorch in the zip",
    ),
    Cheat(
        "exec source",
        "exec learnres's source under the file's name",
        _exec_the_library_source,
        "the child cannot read those files (audit hook)",
    ),
    Cheat(
        "forge score",
        "rewrite the grader's scoreboard from the exercise file",
        _forge_the_scoreboard,
        "the code runs in a child; the parent scores",
    ),
    Cheat(
        "hard-code",
        "answers hard-coded for the cases in the public graders",
        _hard_code_the_public_cases,
        "random cases (a new seed per run and per zip)",
    ),
    Cheat(
        "read expected",
        "read the recorded expected values",
        _read_the_expected_values,
        "the child runs as nobody; the values are root's (0600)",
    ),
    Cheat(
        "write results",
        "write results.json from the exercise file",
        _write_the_results,
        "nobody cannot write it; the parent writes it last",
    ),
    Cheat(
        "exit",
        "end the process at import (os._exit(0))",
        _exit_the_process,
        "the child's exit fails its tests; the parent scores",
    ),
)
