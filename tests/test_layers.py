"""Every import in learnres goes down the layers that learnres/__init__.py's docstring lists.

The table there is the one place the order is written; this file reads it. Each module of
learnres is parsed with ``ast`` and every import of learnres is checked, at the top of the
module and inside functions and classes: a module may import from its own package and from
a lower layer, not from a higher one, nor from another package on its own line. Code under
``if __name__ == "__main__":`` is not checked (it runs only as a program).
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

import learnres

PACKAGE = Path(learnres.__file__).resolve().parent
ROOT = "__init__"  # the name the table gives learnres/__init__.py


def read_layers(doc: str) -> list[tuple[str, ...]]:
    """The layer table of ``doc``, bottom first: the indented lines after "Layers, from the
    bottom up", each "name, name, ...  description" (two spaces or more before it)."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Layers, from the bottom up"))
    table = []
    for line in lines[start + 1 :]:
        if table and not line.strip():
            break
        if line.startswith("    "):
            names = re.split(r"\s{2,}", line.strip())[0]
            table.append(tuple(name.strip() for name in names.split(",")))
    return table


LAYERS = read_layers(learnres.__doc__)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def unit_of(path: Path, package: Path = PACKAGE) -> str:
    """The table's name for the file ``path`` of the package: its subpackage ("nn" for
    learnres/nn/module.py), its own name ("backend"), or ``__init__``/``__main__``."""
    parts = path.relative_to(package).with_suffix("").parts
    return parts[0]


def imported_units(node: ast.AST, module: str, package: Path = PACKAGE) -> list[str]:
    """The learnres units that an ``import``/``from`` node imports (``module``: the dotted
    name of the importing module, ``learnres.nn.__init__`` for a package, for relative
    imports)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif node.level:  # from . import x, from ..nn import y
        base = module.split(".")[: -node.level]
        names = [".".join(base + ([node.module] if node.module else []))]
        if not node.module:
            names = [f"{names[0]}.{alias.name}" for alias in node.names]
    elif node.module == "learnres":  # from learnres import nn (a unit) or Tensor (the root's)
        names = [f"learnres.{alias.name}" for alias in node.names]
    else:
        names = [node.module or ""]
    units = []
    for name in names:
        parts = name.split(".")
        if parts[0] != "learnres":
            continue
        is_unit = len(parts) > 1 and (
            (package / parts[1]).is_dir() or (package / f"{parts[1]}.py").is_file()
        )
        units.append(parts[1] if is_unit else ROOT)
    return units


def _is_main_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return (
        isinstance(node, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _imports(tree: ast.Module) -> list:
    """Every import node of ``tree``, in line order, except under ``if __name__ == "__main__":``."""
    found, stack = [], [n for n in tree.body if not _is_main_block(n)]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return sorted(found, key=lambda node: (node.lineno, node.col_offset))


def violations(source: str, path: str, unit: str, module: str) -> list[str]:
    """One line per import in ``source`` (the file ``path``, of ``unit``) that goes up the
    table or sideways, naming the file, the line and both layers."""
    found = []
    mine = LAYER_OF[unit]
    for node in _imports(ast.parse(source)):
        for other in imported_units(node, module):
            theirs = LAYER_OF.get(other)
            if other == unit or (theirs is not None and theirs < mine):
                continue
            where = "a higher" if theirs is None or theirs > mine else "its own"
            found.append(
                f"{path}:{node.lineno}: {module} (layer {mine + 1}: {', '.join(LAYERS[mine])}) "
                f"imports {other} from {where} layer (layer "
                f"{'?' if theirs is None else theirs + 1}: "
                f"{'not in the table' if theirs is None else ', '.join(LAYERS[theirs])})"
            )
    return found


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        yield path, unit_of(path), module  # learnres.nn.__init__ for learnres/nn/__init__.py


def test_the_table_names_every_part_of_the_package_once():
    names = [name for names in LAYERS for name in names]
    assert len(names) == len(set(names)), names
    units = {unit for _, unit, _ in _modules()}
    assert units == set(names), (
        f"not in learnres/__init__.py's layer table: {sorted(units - set(names))}; "
        f"in the table but not in the package: {sorted(set(names) - units)}"
    )
    assert LAYERS[0] == ("backend", "memory") and LAYERS[-1] == ("__main__",)


def test_every_import_goes_down_the_layers():
    found = []
    for path, unit, module in _modules():
        rel = path.relative_to(PACKAGE.parent).as_posix()
        found += violations(path.read_text(encoding="utf-8"), rel, unit, module)
    assert not found, "imports against learnres/__init__.py's layer table:\n" + "\n".join(found)


# ---- the check itself can fail --------------------------------------------------------------

PLANTED = textwrap.dedent(
    """\
    import numpy as np
    from learnres.autograd import Tensor
    from learnres.nn.module import Module
    from learnres.train import Trainer


    def helper():
        from learnres import reference

        return reference


    class Layer(Module):
        def forward(self, x):
            import learnres.optim.sgd

            return x


    if __name__ == "__main__":
        from learnres.cli import main
    """
)


def test_upward_and_sideways_imports_are_reported_with_line_and_layers():
    """A planted layer (learnres/nn/planted.py): the module-level import of train, the
    function-level import of reference and the method-level one of optim (a layer above nn)
    are named with their lines and layers; its own package, lower layers and the
    ``__main__`` block are not."""
    found = violations(PLANTED, "learnres/nn/planted.py", "nn", "learnres.nn.planted")
    assert found == [
        "learnres/nn/planted.py:4: learnres.nn.planted (layer 5: nn) imports train from a "
        "higher layer (layer 7: train)",
        "learnres/nn/planted.py:8: learnres.nn.planted (layer 5: nn) imports reference from a "
        "higher layer (layer 9: reference)",
        "learnres/nn/planted.py:15: learnres.nn.planted (layer 5: nn) imports optim from a "
        "higher layer (layer 6: models, optim, data, data_parallel)",
    ], found


def test_a_package_on_the_same_line_is_reported():
    source = "from learnres.data import DataLoader\n"
    found = violations(source, "learnres/optim/x.py", "optim", "learnres.optim.x")
    assert found == [
        "learnres/optim/x.py:1: learnres.optim.x (layer 6: models, optim, data, data_parallel) "
        "imports data from its own layer (layer 6: models, optim, data, data_parallel)"
    ]


@pytest.mark.parametrize(
    "source, units",
    [
        ("import learnres", [ROOT]),
        ("from learnres import Tensor", [ROOT]),
        ("from learnres import functions as F", ["functions"]),
        ("import learnres.nn.init", ["nn"]),
        ("from learnres.backend import to_device", ["backend"]),
        ("from ..autograd import Tensor", ["autograd"]),
        ("from . import module", ["nn"]),
        ("import numpy", []),
    ],
)
def test_imported_names_are_resolved_to_the_tables_names(source, units):
    node = ast.parse(source).body[0]
    assert imported_units(node, "learnres.nn.blocks") == units


def test_a_relative_import_in_a_package_starts_from_the_package():
    node = ast.parse("from .parameter import Parameter").body[0]
    assert imported_units(node, "learnres.nn.__init__") == ["nn"]
    node = ast.parse("from .. import backend").body[0]
    assert imported_units(node, "learnres.nn.__init__") == ["backend"]
