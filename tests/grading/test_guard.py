"""The guard around a submission (learnres.grading.guard), rule by rule, on exercise 1's spec
with small submissions written for each case."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from learnres.functions import elementwise
from learnres.grading.guard import (
    ExerciseSpec,
    Guard,
    GuardViolation,
    NotYourCode,
    RefusedImport,
)
from learnres.grading.harness import load_specs

REPO = Path(__file__).resolve().parents[2]
SPEC: ExerciseSpec = load_specs(REPO / "exercises")["ex1_autograd"]
STUB = (REPO / "exercises" / "ex1_autograd.py").read_text()


def load(tmp_path: Path, extra: str, name: str = "ex1_autograd"):
    path = tmp_path / f"{name}.py"
    path.write_text(STUB + "\n" + textwrap.dedent(extra))
    guard = Guard(SPEC, str(path), frozenset())
    try:
        module = guard.load(f"guarded_{name}_{abs(hash(str(tmp_path)))}", path)
    finally:
        sys.modules.pop(f"guarded_{name}_{abs(hash(str(tmp_path)))}", None)
    return guard, module


# ---- rule 1: imports --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, refused",
    [
        ("import torch", "torch"),
        ("from torch import nn", "torch"),
        ("import learnres.grading.scoreboard", "learnres.grading"),
        ("from learnres import grading", "learnres.grading"),
        ("import pytest", "pytest"),
        ("import learnres.functions.elementwise", "learnres.functions.elementwise"),
        ("from learnres.functions import elementwise", "learnres.functions.elementwise"),
        ("from learnres.functions.elementwise import Mul", "Mul from learnres.functions"),
        ("from learnres.functions import mul, sum_to", "sum_to from learnres.functions"),
        ("from learnres.autograd.graph import topological_order", "topological_order"),
        ("import importlib\nimportlib.import_module('torch')", "torch"),
        ("__import__('torch')", "torch"),
        ("exec('import torch', {})", "torch"),
    ],
)
def test_imports_the_exercise_must_not_make_are_refused(tmp_path, line, refused):
    with pytest.raises(RefusedImport, match="not allowed while your code is graded") as info:
        load(tmp_path, line)
    assert refused in str(info.value)


def test_the_helpers_the_stub_imports_stay_importable(tmp_path):
    guard, module = load(
        tmp_path,
        """
        import numpy as np
        from learnres.autograd.function import Function, OpError
        from learnres.functions.elementwise import mul, exp
        import learnres.nn
        """,
    )
    assert module.mul is elementwise.mul and not guard.refused


def test_a_thread_started_on_an_import_function_is_refused(tmp_path):
    guard = Guard(SPEC, str(tmp_path / "ex1_autograd.py"), frozenset())
    errors = []

    def target():
        try:
            __import__("importlib").import_module("torch.nn")
        except RefusedImport as e:
            errors.append(e)

    with guard.armed():
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    assert errors, "an import from a thread the submission started got through"


def test_learnres_importing_what_it_needs_is_not_refused(tmp_path):
    from learnres.functions.loss import cross_entropy

    guard = Guard(SPEC, str(tmp_path / "ex1_autograd.py"), frozenset())
    with guard.armed():
        # learnres's own code, called while armed, imports lazily (cross_entropy imports
        # learnres.autograd.tensor inside the function)
        loss = cross_entropy(np.zeros((2, 3)), np.array([0, 1]))
    assert not guard.violations and np.isclose(loss.item(), np.log(3))


# ---- rule 2: provenance -----------------------------------------------------------------------


def test_units_that_are_not_the_files_code_are_refused(tmp_path):
    guard, module = load(
        tmp_path,
        """
        import sys as _sys
        sum_to = _sys.modules["learnres.functions.elementwise"].sum_to
        class Mul(_sys.modules["learnres.functions.elementwise"].Mul):
            pass
        ReLU = _sys.modules["learnres.functions.elementwise"].ReLU
        """,
    )
    assert set(guard.refused) == {"sum_to", "ReLU", "Mul.backward"}
    with pytest.raises(NotYourCode, match="learnres's own sum_to"):
        module.sum_to(np.ones(3), (3,))
    with pytest.raises(NotYourCode, match="Mul.backward .* does not come from ex1_autograd.py"):
        module.Mul().backward(np.ones(3))
    with pytest.raises(NotYourCode):
        module.ReLU()
    assert elementwise.Mul.backward is not None and elementwise.sum_to(np.ones(2), (2,)).shape


def test_a_method_assigned_from_the_library_is_refused(tmp_path):
    guard, module = load(
        tmp_path,
        """
        import sys as _sys
        MatMul.backward = _sys.modules["learnres.functions.matmul"].MatMul.backward
        """,
    )
    assert "MatMul.backward" in guard.refused


def test_the_students_own_code_passes(tmp_path):
    guard, module = load(
        tmp_path,
        """
        def sum_to(g, shape):
            return g
        """,
    )
    assert not guard.refused and module.sum_to(np.ones(2), (2,)).shape == (2,)


# ---- rule 3: tripwires ------------------------------------------------------------------------


def test_delegating_to_learnres_at_run_time_trips_the_wire(tmp_path):
    guard, module = load(
        tmp_path,
        """
        import sys as _sys
        def sum_to(g, shape):
            return _sys.modules["learnres.functions.elementwise"].sum_to(g, shape)
        """,
    )
    original = elementwise.sum_to.__code__
    with guard.armed():
        with pytest.raises(GuardViolation, match="called learnres's own sum_to"):
            module.sum_to(np.ones((2, 3)), (3,))
    assert guard.violations and elementwise.sum_to.__code__ is original  # switched back on


def test_a_given_part_works_and_is_not_tripped(tmp_path):
    guard, module = load(tmp_path, "")
    undo = guard.give(module, ("sum_to",))
    try:
        with guard.armed(given=("sum_to",)):
            assert module.sum_to(np.ones((2, 3)), (3,)).tolist() == [2.0, 2.0, 2.0]
            assert elementwise.sum_to(np.ones((2, 3)), (3,)).shape == (3,)  # not tripped
            with pytest.raises(GuardViolation):
                elementwise.ReLU().backward(np.ones(2))  # not given: switched off
    finally:
        undo()
    with pytest.raises(NotImplementedError, match="Exercise 1.1"):
        module.sum_to(np.ones(2), (2,))  # the student's own again


# ---- a sealed process ----------------------------------------------------------------------------


def test_a_sealed_process_cannot_read_the_solution_or_start_programs():
    code = textwrap.dedent(
        """
        import subprocess, sys
        import learnres.functions.elementwise as e
        from learnres.grading.guard import seal_process
        from learnres.grading.harness import load_specs
        seal_process(load_specs(sys.argv[1])["ex1_autograd"])
        for attempt in (lambda: open(e.__file__).read(),
                        lambda: __import__("inspect").getsource(e.Mul),
                        lambda: subprocess.run(["cat", e.__file__])):
            try:
                attempt()
                print("READ")
            except (PermissionError, OSError) as err:
                print("BLOCKED", type(err).__name__)
        print(open(__import__("numpy").__file__).read(10) and "numpy readable")
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "exercises")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    # inspect.getsource turns linecache's PermissionError into "could not get source code"
    assert lines[:3] == ["BLOCKED PermissionError", "BLOCKED OSError", "BLOCKED PermissionError"]
    assert lines[3] == "numpy readable"
