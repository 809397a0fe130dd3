"""Exercise files made from learnres's own code: extract, stub, render.

An exercise file is a handful of *units* (top-level functions and classes) copied from the
reference implementation with ``ast`` and the source lines, in which the *parts* a student
writes (a function, or a method of a class) keep their signature and docstring while their
body becomes ``raise NotImplementedError("Exercise 1.2: ...")``. The same rendering without
the stubbing is the solution, so stubs and solutions come from one source and cannot drift
apart: a test compares ``exercises/`` with ``render(exercise, solution=False)``.

    Exercise(number=1, slug="ex1_autograd", title="Autograd", intro="...",
             units=(Unit("learnres.functions.elementwise", "Mul"), ...),
             parts=(Part("1.2", "Mul.backward", "the gradients of y = a * b", doc="..."), ...))

The imports of a file are found, not listed: every free name of the rendered solution is
looked up in the module its unit came from and imported the way that module imports it
(or from that module, for its own helpers and constants). A file's imports are those of the
solution, so the stubs import what a solution needs.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import io
import linecache
import sys
import textwrap
import tokenize
import types
from dataclasses import dataclass, field

__all__ = ["Exercise", "Part", "Unit", "load_module", "render", "stub_message"]

_WIDTH = 100  # the column limit of STYLE.md; generated lines are checked against it


@dataclass(frozen=True)
class Part:
    """One piece of code a student writes.

    Attributes:
        number: "1.2" (exercise 1, part 2): the id in the NotImplementedError and the grader.
        target: the function ("sum_to") or method ("Mul.backward") whose body is stubbed.
        task: one line: what to write ("the gradients of y = a * b").
        doc: what to compute and why (shapes, conventions), added to the docstring (plain
            text, dedented); the formula itself belongs in the part's hints
            (``learnres.grading.hints``).
        own_doc: the part's text replaces the reference's docstring instead of extending it
            (for a reference docstring that states the answer).
    """

    number: str
    target: str
    task: str
    doc: str = ""
    own_doc: bool = False


@dataclass(frozen=True)
class Unit:
    """A top-level function or class of a learnres module, copied into an exercise file.

    Attributes:
        module: the dotted module name ("learnres.functions.elementwise").
        name: the function or class ("Mul").
        drop: methods of a class to leave out (state_dict and friends a student needn't read).
    """

    module: str
    name: str
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exercise:
    """One exercise file ``exercises/<slug>.py`` and its grader ``test_<slug>.py``."""

    number: int
    slug: str
    title: str
    intro: str
    units: tuple[Unit, ...]
    parts: tuple[Part, ...]
    chapter: str = ""  # where the chapters teach it (shown in the file's docstring)
    extra: dict = field(default_factory=dict)  # reserved for notes shown in the README

    @property
    def filename(self) -> str:
        return f"{self.slug}.py"

    @property
    def grader(self) -> str:
        return f"test_{self.slug}.py"

    def part(self, number: str) -> Part:
        for part in self.parts:
            if part.number == number:
                return part
        raise KeyError(f"exercise {self.number} has no part {number}")


def stub_message(part: Part) -> str:
    """The text of a stub's error: ``"Exercise 1.2: Mul.backward (the gradients of ...)"``."""
    return f"Exercise {part.number}: {part.target} ({part.task})"


# ---- reading the reference source ---------------------------------------------------------


@dataclass
class _Source:
    """A parsed learnres module: its lines, tree and namespace."""

    name: str
    lines: list[str]
    tree: ast.Module
    namespace: dict
    imports: dict[str, str]  # name -> the import statement that binds it at top level

    def node(self, name: str) -> ast.stmt:
        """The top-level def, class or assignment (``CHUNK = 8``) that binds ``name``."""
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                return node
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets
            ):
                return node
            if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name:
                return node
        raise LookupError(f"{self.name} has no top-level function, class or constant {name!r}")


_SOURCES: dict[str, _Source] = {}


def _source(module_name: str) -> _Source:
    if module_name not in _SOURCES:
        module = importlib.import_module(module_name)
        text = inspect.getsource(module)
        tree = ast.parse(text)
        imports = {}
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    stmt = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                    imports[bound] = stmt
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    bound = alias.asname or alias.name
                    name = alias.name + (f" as {alias.asname}" if alias.asname else "")
                    imports[bound] = f"from {'.' * node.level}{node.module or ''} import {name}"
        _SOURCES[module_name] = _Source(module_name, text.splitlines(), tree, vars(module), imports)
    return _SOURCES[module_name]


def _header_end(lines: list[str], node: ast.FunctionDef) -> int:
    """The (1-based) line holding the ``:`` that ends a def's header (it may span lines)."""
    start = node.decorator_list[-1].end_lineno + 1 if node.decorator_list else node.lineno
    body_start = node.body[0].lineno
    text = "\n".join(lines[start - 1 : body_start]) + "\n"
    depth = 0
    seen_def = False
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string == "def":
            seen_def = True
        elif tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ":" and depth == 0 and seen_def:
            return start + tok.start[0] - 1
    raise ValueError(f"no end of header found for def {node.name} at line {node.lineno}")


def _docstring_node(node: ast.FunctionDef) -> ast.Expr | None:
    first = node.body[0]
    is_string = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    return first if is_string and isinstance(first.value.value, str) else None


def _part_text(part: Part) -> str:
    """The lines a part adds to its docstring (ending with where its hints are)."""
    text = f"Exercise {part.number}: {part.task}."
    doc = textwrap.dedent(part.doc).strip("\n")
    stuck = (
        f"Stuck? Hints in three levels: ``pytest exercises --hint {part.number}`` (add\n"
        f'``--hint-level 2`` or 3), or ``hint("{part.number}")`` from learnres.grading.'
    )
    return f"{text}\n\n{doc}\n\n{stuck}" if doc else f"{text}\n\n{stuck}"


def _indent(text: str, indent: str) -> list[str]:
    return [indent + line if line.strip() else "" for line in text.splitlines()]


def _render_def(lines: list[str], node: ast.FunctionDef, part: Part, solution: bool) -> list[str]:
    """The def ``node`` with the part's text in its docstring and, unless ``solution``, a stub
    for a body."""
    header_end = _header_end(lines, node)
    out = lines[node_start(node) - 1 : header_end]
    doc = _docstring_node(node)
    indent = " " * node.body[0].col_offset
    if doc is not None and part.own_doc:
        text = _indent(_part_text(part), indent)
        text[0] = indent + '"""' + text[0].lstrip()
        out += text + [indent + '"""']
        body_start = doc.end_lineno + 1
    elif doc is not None:
        original = "\n".join(lines[doc.lineno - 1 : doc.end_lineno]).rstrip()
        if not original.endswith('"""'):
            raise ValueError(f"{part.target}: docstring must end with triple double quotes")
        kept = original[:-3].rstrip().splitlines()
        out += kept + [""] + _indent(_part_text(part), indent) + [indent + '"""']
        body_start = doc.end_lineno + 1
    else:
        text = _indent(_part_text(part), indent)
        text[0] = indent + '"""' + text[0].lstrip()
        out += text + [indent + '"""']
        body_start = header_end + 1
    if solution:
        out += lines[body_start - 1 : node.end_lineno]
    else:
        out += _raise_stub(stub_message(part), indent)
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _raise_stub(message: str, indent: str) -> list[str]:
    """``raise NotImplementedError("...")``, the message split over lines when it is long."""
    line = f"{indent}raise NotImplementedError({_quote(message)})"
    if len(line) <= _WIDTH:
        return [line]
    inner = indent + "    "
    if len(inner + _quote(message)) <= _WIDTH:  # on a line of its own, as the formatter puts it
        return [f"{indent}raise NotImplementedError(", inner + _quote(message), f"{indent})"]
    chunks = textwrap.wrap(message, _WIDTH - len(inner) - 3, drop_whitespace=False)
    return (
        [f"{indent}raise NotImplementedError("]
        + [inner + _quote(chunk) for chunk in chunks]
        + [f"{indent})"]
    )


def node_start(node) -> int:
    """The first line of a def, class or assignment, decorators included (1-based)."""
    decorators = getattr(node, "decorator_list", None)
    return decorators[0].lineno if decorators else node.lineno


def _render_unit(unit: Unit, parts: dict[str, Part], solution: bool) -> str:
    src = _source(unit.module)
    node = src.node(unit.name)
    lines = src.lines
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return "\n".join(lines[node.lineno - 1 : node.end_lineno])
    if isinstance(node, ast.FunctionDef):
        if unit.drop:
            raise ValueError(f"{unit.name}: only classes can drop methods")
        if unit.name in parts:
            return "\n".join(_render_def(lines, node, parts[unit.name], solution))
        return "\n".join(lines[node_start(node) - 1 : node.end_lineno])
    # a class: copy it line by line, replacing stubbed methods and skipping dropped ones
    methods = {m.name: m for m in node.body if isinstance(m, ast.FunctionDef)}
    for name in unit.drop:
        if name not in methods:
            raise LookupError(f"{unit.module}.{unit.name} has no method {name!r} to drop")
    out, line = [], node_start(node)
    for member in node.body:
        if not isinstance(member, ast.FunctionDef):
            continue
        key = f"{unit.name}.{member.name}"
        if member.name not in unit.drop and key not in parts:
            continue
        out += lines[line - 1 : node_start(member) - 1]
        if member.name in unit.drop:
            # the blank lines and section comments just above it go too
            while out and (not out[-1].strip() or out[-1].lstrip().startswith("#")):
                out.pop()
        else:
            out += _render_def(lines, member, parts[key], solution)
        line = member.end_lineno + 1
    out += lines[line - 1 : node.end_lineno]
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


# ---- imports ---------------------------------------------------------------------------------


def _free_names(tree: ast.Module) -> list[str]:
    """Names read somewhere in ``tree`` that no top-level statement of it defines, in order."""
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
    seen = {}
    for node in ast.walk(tree):
        loaded = isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        if loaded and node.id not in defined and not hasattr(builtins, node.id):
            seen.setdefault(node.id, None)
    return list(seen)


def _import_for(name: str, module_names: list[str]) -> str | None:
    """The statement that imports ``name`` as the units' own modules see it (None: a local)."""
    for module_name in module_names:
        src = _source(module_name)
        if name in src.imports:
            stmt = src.imports[name]
            if stmt.startswith("from ."):
                raise ValueError(f"{module_name}: relative import of {name!r} is not supported")
            return stmt
        if name in src.namespace:
            return f"from {module_name} import {name}"
    return None  # a local variable of some function (not global anywhere)


def _group(stmt: str) -> int:
    top = stmt.split()[1].split(".")[0]
    if top == "learnres":
        return 2
    return 0 if top in sys.stdlib_module_names else 1


def _import_order(name: str) -> tuple:
    """isort's order by type (ruff's default): CONSTANTS, then Classes, then functions."""
    bare = name.split(" as ")[0]
    kind = 0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2
    return kind, bare.lower()


def _render_imports(statements: list[str], some_unused: bool) -> list[str]:
    plain = sorted({s for s in statements if s.startswith("import ")})
    froms: dict[str, list[str]] = {}
    for stmt in statements:
        if stmt.startswith("from "):
            module, _, name = stmt[5:].partition(" import ")
            froms.setdefault(module, [])
            if name not in froms[module]:
                froms[module].append(name)
    blocks: list[list[str]] = [[], [], []]
    for stmt in plain:
        blocks[_group(stmt)].append(stmt)
    for module in sorted(froms):
        names = sorted(froms[module], key=_import_order)
        line = f"from {module} import {', '.join(names)}"
        if len(line) > _WIDTH:
            line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
        blocks[_group(f"from {module} import x")].append(line)
    out = ["from __future__ import annotations", ""]
    if some_unused:  # in the stubs; the same header serves the solution
        out = [
            "# ruff: noqa: F401",
            "# (the imports of the solution: some stay unused until the stubs are written)",
            "",
            *out,
        ]
    for block in blocks:
        if block:
            out += block + [""]
    return out


# ---- the whole file ------------------------------------------------------------------------


def _docstring(exercise: Exercise) -> list[str]:
    width = max(len(p.target) for p in exercise.parts)
    lines = [f"Exercise {exercise.number}: {exercise.title}.", ""]
    lines += textwrap.dedent(exercise.intro).strip("\n").splitlines()
    lines += ["", "What you write (each stub raises NotImplementedError until you do):", ""]
    for part in exercise.parts:
        lines.append(f"    {part.number}  {part.target:<{width}}  {part.task}")
    lines += [
        "",
        f"Check your work: ``pytest exercises/{exercise.grader}`` (or ``pytest exercises/`` for",
        "all exercises) prints a score table; each failure says which value is wrong and why.",
    ]
    if exercise.chapter:
        lines += ["", f"Chapter: {exercise.chapter}"]
    lines += [
        "",
        (
            "This file is generated from learnres's own code "
            "(``python -m learnres.grading.exercises``):"
        ),
        "the code around the stubs is the reference implementation, which you may read and use.",
    ]
    return ['"""' + lines[0]] + lines[1:] + ['"""']


def render(exercise: Exercise, solution: bool = False) -> str:
    """The text of the exercise file: stubs, or with ``solution=True`` the reference bodies."""
    parts = {p.target: p for p in exercise.parts}
    claimed = {u.name for u in exercise.units} | {
        f"{u.name}.{m}" for u in exercise.units for m in _methods(u)
    }
    for target in parts:
        if target not in claimed:
            raise LookupError(f"exercise {exercise.number}: part target {target!r} is in no unit")
    bodies = [_render_unit(u, parts, solution) for u in exercise.units]
    full = [_render_unit(u, parts, True) for u in exercise.units]
    module_names = list(dict.fromkeys(u.module for u in exercise.units))
    tree = ast.parse("\n\n\n".join(full))
    statements, bound = [], []
    for name in _free_names(tree):
        stmt = _import_for(name, module_names)
        if stmt is not None:
            statements.append(stmt)
            bound.append(name)
    stub_tree = ast.parse("\n\n\n".join(_render_unit(u, parts, False) for u in exercise.units))
    some_unused = bool(set(bound) - set(_free_names(stub_tree)))
    public = sorted(
        (u.name for u in exercise.units if not u.name.startswith("_")), key=_import_order
    )
    units = [_source(u.module).node(u.name) for u in exercise.units]
    lines = _docstring(exercise) + [""] + _render_imports(statements, some_unused)
    all_line = "__all__ = [" + ", ".join(_quote(n) for n in public) + "]"
    if len(all_line) > _WIDTH:
        all_line = "__all__ = [\n" + "".join(f"    {_quote(n)},\n" for n in public) + "]"
    lines += [all_line]
    text = "\n".join(lines) + "\n"
    for k, (node, body) in enumerate(zip(units, bodies)):
        constant = isinstance(node, (ast.Assign, ast.AnnAssign))
        follows_constant = k > 0 and isinstance(units[k - 1], (ast.Assign, ast.AnnAssign))
        text += ("" if constant and follows_constant else "\n\n") + body + "\n"
    _check_width(exercise, text)
    compile(text, exercise.filename, "exec")  # a syntax error here is a bug in the spec
    return text


def _methods(unit: Unit) -> list[str]:
    node = _source(unit.module).node(unit.name)
    if isinstance(node, ast.ClassDef):
        return [m.name for m in node.body if isinstance(m, ast.FunctionDef)]
    return []


def _check_width(exercise: Exercise, text: str) -> None:
    """The generated text stays within the column limit (copied code is the source's own)."""
    generated = set(_docstring(exercise))
    for part in exercise.parts:
        generated.update(line.strip() for line in _part_text(part).splitlines())
    for i, line in enumerate(text.splitlines(), 1):
        if len(line) > _WIDTH and (line in generated or line.strip() in generated):
            raise ValueError(
                f"{exercise.filename}:{i}: line longer than {_WIDTH} columns: {line!r}"
            )


def load_module(name: str, source: str, filename: str) -> types.ModuleType:
    """Execute ``source`` as a fresh module called ``name`` (left out of ``sys.modules``).

    ``filename`` is registered with ``linecache``, so tracebacks through it show its lines.
    """
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    # in sys.modules while it runs: dataclasses look their module up there
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 (our own code)
    finally:
        if previous is None:
            del sys.modules[name]
        else:
            sys.modules[name] = previous
    return module
