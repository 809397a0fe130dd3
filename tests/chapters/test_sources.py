"""The chapter sources: jupytext percent files that convert to notebooks, carry slide
metadata, cite the paper, import learnres instead of redefining it, and check what they
build by hand."""

from __future__ import annotations

import ast
import importlib

import pytest

from learnres.lectures.build import build_notebooks, chapter_paths, read_chapter

CHAPTERS = chapter_paths()
EXPECTED = [
    "01_autograd",
    "02_conv_batchnorm",
    "03_degradation",
    "04_residual_learning",
    "05_bottlenecks",
    "06_gpu_training",
]
SLIDE_TYPES = {"slide", "subslide", "fragment", "notes", "skip", "-"}


def test_the_six_chapters_exist_in_order():
    assert [p.stem for p in CHAPTERS] == EXPECTED


def test_chapter_selection_by_number_and_name():
    assert [p.stem for p in chapter_paths(["3"])] == ["03_degradation"]
    assert [p.stem for p in chapter_paths(["autograd", "05"])] == ["01_autograd", "05_bottlenecks"]
    with pytest.raises(ValueError, match="no chapter matches"):
        chapter_paths(["99"])


def _learnres_public_names() -> set[str]:
    names = set()
    for module in (
        "learnres",
        "learnres.autograd",
        "learnres.functions",
        "learnres.nn",
        "learnres.models",
        "learnres.optim",
        "learnres.data",
        "learnres.train",
        "learnres.analysis",
        "learnres.testing",
        "learnres.lectures",
    ):
        names |= set(importlib.import_module(module).__all__)
    return names


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_a_notebook_with_slides(path):
    nb = read_chapter(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    types = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert types[0] == "slide" and nb.cells[0].cell_type == "markdown"
    assert set(types) - {None} <= SLIDE_TYPES
    assert types.count("slide") >= 4 and "subslide" in types and "fragment" in types
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "$" in markdown  # equations in LaTeX
    assert "§" in markdown or "Fig." in markdown or "Table" in markdown  # cites the paper


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_imports_learnres_and_redefines_none_of_it(path):
    nb = read_chapter(path)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    tree = ast.parse(code)
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert any(m and m.startswith("learnres") for m in imported)
    defined = {
        node.name
        for node in tree.body  # top-level names (methods may be anything)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }
    assert not defined & _learnres_public_names(), defined & _learnres_public_names()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_what_a_chapter_builds_by_hand_is_checked(path):
    """Every ``*_by_hand`` function a chapter defines is used in an assertion or a numpy
    testing call against learnres."""
    code = "\n".join(c.source for c in read_chapter(path).cells if c.cell_type == "code")
    tree = ast.parse(code)
    by_hand = {
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and "by_hand" in n.name
    }
    checks = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Assert)
        or (isinstance(n, ast.Call) and "assert" in ast.unparse(n.func))
    ]
    assert checks, "a chapter must check something"
    for name in by_hand:
        tainted = _flows_from(tree, name)
        used = [c for c in checks if any(t in _names(c) for t in tainted)]
        assert used, f"{name} is never checked against learnres"


def _names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _flows_from(tree, name: str) -> set[str]:
    """``name`` and every variable assigned (or looped over) from an expression using it."""
    tainted, changed = {name}, True
    while changed:
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                source, targets = node.value, node.targets
            elif isinstance(node, ast.For):
                source, targets = node.iter, [node.target]
            else:
                continue
            if _names(source) & tainted:
                new = set().union(*(_names(t) for t in targets)) - tainted
                if new:
                    tainted |= new
                    changed = True
    return tainted


def test_build_notebooks_writes_ipynb(tmp_path):
    import nbformat

    paths = build_notebooks(tmp_path, ["01"], log=lambda *_: None)
    assert [p.name for p in paths] == ["01_autograd.ipynb"]
    nb = nbformat.read(paths[0], as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].metadata["slideshow"]["slide_type"] == "slide"


def test_command_line_builds_notebooks(tmp_path, capsys):
    from learnres.lectures.cli import _main

    assert _main(["notebooks", "--out", str(tmp_path), "02"]) == 0
    assert (tmp_path / "02_conv_batchnorm.ipynb").is_file()
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _main(["frobnicate"])
