"""The exercise generator on a small module of its own: stubs keep signatures and
docstrings, solutions keep the bodies, imports are found, and mistakes in a spec are refused."""

from __future__ import annotations

import importlib
import sys
import traceback

import pytest

from learnres.grading.generate import Exercise, Part, Unit, load_module, render, stub_message

SOURCE = '''
"""A module to make exercises from."""

from __future__ import annotations

import math

from learnres.backend import get_array_module

SCALE = 2


def _helper(x):
    return x + 1


def area(r: float) -> float:
    """The area of a circle of radius r, times SCALE."""
    # pi r^2
    return math.pi * r * r * SCALE


def perimeter(r):
    return 2 * math.pi * r


class Thing:
    """A thing that grows."""

    def __init__(self, n):
        self.n = n

    def grow(self, k):
        xp = get_array_module(k)
        return xp.asarray(_helper(self.n) * k)

    # ---- state ----
    def state_dict(self):
        return {"n": self.n}
'''


@pytest.fixture
def module_name(tmp_path, monkeypatch):
    name = "learnres_generate_sample"
    (tmp_path / f"{name}.py").write_text(SOURCE.lstrip())
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield name
    sys.modules.pop(name, None)


def _exercise(name, parts=None, units=None):
    return Exercise(
        number=9,
        slug="ex9_sample",
        title="Sample",
        intro="An exercise made from a sample module.",
        units=units
        or (
            Unit(name, "area"),
            Unit(name, "perimeter"),
            Unit(name, "Thing", drop=("state_dict",)),
        ),
        parts=parts
        or (
            Part("9.1", "area", "the area", "Formula: pi * r^2 * SCALE."),
            Part(
                "9.2",
                "Thing.grow",
                "grow the thing by k, a task long enough to be wrapped over lines",
                "Hint: k.",
            ),
        ),
    )


def test_stubs_keep_signatures_and_docstrings(module_name):
    text = render(_exercise(module_name))
    assert "def area(r: float) -> float:" in text
    assert "The area of a circle of radius r, times SCALE." in text  # the original docstring
    assert "Exercise 9.1: the area.\n\n    Formula: pi * r^2 * SCALE." in text  # and the part's
    assert "# pi r^2" not in text and "return math.pi" not in text  # the body is gone
    assert "def perimeter(r):\n    return 2 * math.pi * r" in text  # not a part: kept whole
    assert "state_dict" not in text and "# ---- state" not in text  # dropped with its comment
    assert all(len(line) <= 100 for line in text.splitlines())
    module = load_module("ex9_sample", text, "<stub>")
    with pytest.raises(NotImplementedError, match=r"^Exercise 9.1: area \(the area\)$"):
        module.area(1.0)
    with pytest.raises(NotImplementedError, match=r"Exercise 9.2: Thing.grow"):
        module.Thing(1).grow(2.0)
    assert module.perimeter(1.0) == pytest.approx(2 * 3.141592653589793)


def test_imports_are_found_from_the_source_module(module_name):
    text = render(_exercise(module_name))
    assert "\nimport math\n" in text
    assert "from learnres.backend import get_array_module" in text
    # the module's own helpers and constants come from it
    assert f"from {module_name} import SCALE, _helper" in text
    # the stub does not use math in area any more, but perimeter does: no noqa needed;
    # get_array_module is only used by the solution of Thing.grow
    assert "# ruff: noqa: F401" in text


def test_solution_runs_like_the_reference(module_name):
    ex = _exercise(module_name)
    solution = load_module("ex9_solution", render(ex, solution=True), "<solution>")
    reference = importlib.import_module(module_name)
    assert solution.area(1.5) == reference.area(1.5)
    assert solution.Thing(3).grow(2) == reference.Thing(3).grow(2)
    # stub and solution differ only in the stubbed bodies
    stub_lines = set(render(ex).splitlines())
    extra = [line for line in render(ex, solution=True).splitlines() if line not in stub_lines]
    assert extra == [
        "    # pi r^2",
        "    return math.pi * r * r * SCALE",
        "        xp = get_array_module(k)",
        "        return xp.asarray(_helper(self.n) * k)",
    ]


def test_long_stub_messages_are_wrapped(module_name):
    part = _exercise(module_name).parts[1]
    text = render(_exercise(module_name))
    assert "raise NotImplementedError(\n" in text
    module = load_module("ex9_wrapped", text, "<stub>")
    with pytest.raises(NotImplementedError) as info:
        module.Thing(1).grow(1)
    assert str(info.value) == stub_message(part)


def test_tracebacks_show_the_generated_lines(module_name):
    module = load_module("ex9_lines", render(_exercise(module_name)), "<ex9 stub>")
    try:
        module.area(1.0)
    except NotImplementedError:
        text = traceback.format_exc()
    assert 'raise NotImplementedError("Exercise 9.1' in text


def test_spec_mistakes_are_refused(module_name):
    with pytest.raises(LookupError, match="'Thing.shrink' is in no unit"):
        render(_exercise(module_name, parts=(Part("9.1", "Thing.shrink", "shrink"),)))
    with pytest.raises(LookupError, match="no top-level function, class or constant 'nothing'"):
        render(_exercise(module_name, parts=(), units=(Unit(module_name, "nothing"),)))
    with pytest.raises(LookupError, match="no method 'save' to drop"):
        units = (Unit(module_name, "Thing", drop=("save",)),)
        render(_exercise(module_name, parts=(Part("9.2", "Thing.grow", "grow"),), units=units))


def test_mutant_patches_must_match_once():
    from learnres.grading.mutants import Mutant, mutant_source

    broken = Mutant("x", "ex1_autograd", "nothing", (("no such text", "x"),), ("t",), "m")
    with pytest.raises(ValueError, match="occurs 0 times"):
        mutant_source(broken)


def test_own_doc_replaces_a_docstring_that_states_the_answer(module_name):
    parts = (Part("9.1", "area", "the area", "Derive it from the disc.", own_doc=True),)
    ex = _exercise(module_name, parts=parts)
    for solution in (False, True):
        text = render(ex, solution=solution)
        assert "The area of a circle of radius r" not in text
        assert "Exercise 9.1: the area." in text and "Derive it from the disc." in text
        assert "pytest exercises --hint 9.1" in text and 'hint("9.1")' in text
    area = load_module("ex9_sample_solution", render(ex, solution=True), "<solution>").area
    assert area(1.0) == pytest.approx(2 * 3.141592653589793)


def test_a_solution_with_dataclasses_loads():
    source = "from dataclasses import dataclass\n\n@dataclass\nclass P:\n    x: int = 1\n"
    assert load_module("sample_with_dataclass", source, "<sample>").P().x == 1
    assert "sample_with_dataclass" not in sys.modules
