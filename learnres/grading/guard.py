"""The guard around a submission: only the student's own code earns points.

A submitted exercise file is imported and run under three rules, all about the exercise being
graded (its *units*, the functions and classes the file copies from learnres, and its *parts*,
the ones the student writes):

1. **Imports.** While the submission is imported and while a grader runs its code, an import
   made *by the submission* is refused when it asks for

   * ``torch`` (the graders compare with PyTorch, so a submission can't use it),
   * the grader itself (``learnres.grading``, ``pytest``, ``_pytest``, ``pluggy``),
   * a learnres module that holds the exercise's reference code (``import
     learnres.functions.batchnorm`` in exercise 3), or one of the exercise's units from any
     learnres module (``from learnres.nn import BasicBlock`` in exercise 4). Other names from
     those modules stay importable: the exercise files import their helpers from them.

   An import counts as the submission's when the nearest caller outside the standard library
   is code that is not learnres's, not a grader file and not an installed package: the
   submission file, code it built with ``exec``, or a thread it started. learnres's own code
   importing what it needs while the student's code calls it is not refused.
2. **Provenance.** After the import, every unit in the module must come from the submitted
   file: a function's code (``__code__.co_filename``) must be the file's, a class must be made
   by the file, and each part that is a method must resolve (through the class's bases) to a
   function written in the file. Anything else (learnres's own ``BatchNorm``, a subclass that
   inherits learnres's ``backward``, a method assigned from the library) is replaced by an
   object that fails every test that uses it, saying why.
3. **Tripwires.** While a grader runs the student's code, learnres's own version of every part
   the test does not supply (``given``) is switched off: its code is swapped for code that
   records the call and raises, so delegating to learnres (through ``sys.modules``, a layer
   that calls the op, ...) fails the test. The grader's own reference values are computed
   before or after, never while the tripwires are set.

What this cannot stop, in a process that runs the submission: code that walks the object
graph on purpose (``gc``, frames, closures) to reach the grader or the modules that the
grader itself imported, or code copied by hand from learnres's sources. On Gradescope the
submission runs in a separate process without PyTorch, whose only output is plain data
(``learnres.grading.child``), so tampering with that process changes nothing but its own
answers; exercises/README.md says what each path protects against.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import importlib.util
import os
import sys
import sysconfig
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ExerciseSpec",
    "Guard",
    "GuardViolation",
    "NotYourCode",
    "RefusedImport",
    "install_import_hook",
    "seal_process",
    "tripped",
]

GUARD_FILE = str(Path(__file__).resolve())
_LEARNRES_DIR = str(Path(__file__).resolve().parents[1])
_GRADER_MODULES = ("learnres.grading", "pytest", "_pytest", "pluggy")


class RefusedImport(ImportError):
    """An import the submission may not make while it is graded."""


class NotYourCode(RuntimeError):
    """A graded unit that does not come from the submitted file."""


class GuardViolation(RuntimeError):
    """learnres's own version of a part was called while the student's code ran."""


@dataclass(frozen=True)
class ExerciseSpec:
    """What the guard needs to know about one exercise (from ``exercises/grading.json``).

    Attributes:
        slug: "ex3_batchnorm" (the module name of the submission).
        number: 3.
        units: (module, name) of every function, class and constant the file copies.
        parts: (number, target) of every part: ("3.3", "BatchNorm.backward").
    """

    slug: str
    number: int
    units: tuple[tuple[str, str], ...]
    parts: tuple[tuple[str, str], ...]

    @classmethod
    def from_dict(cls, slug: str, data: dict) -> ExerciseSpec:
        return cls(
            slug,
            int(data["number"]),
            tuple((str(m), str(n)) for m, n in data["units"]),
            tuple((str(k), str(t)) for k, t in data["parts"]),
        )

    def unit_module(self, name: str) -> str:
        for module, unit in self.units:
            if unit == name:
                return module
        raise KeyError(f"{self.slug} has no unit {name!r}")

    def part_number(self, target: str) -> str:
        for number, t in self.parts:
            if t == target:
                return number
        raise KeyError(f"{self.slug} has no part {target!r}")


# ---- where code comes from -------------------------------------------------------------------


def _paths(*names: str) -> tuple[str, ...]:
    found = []
    for name in names:
        for scheme_path in {sysconfig.get_paths().get(name)}:
            if scheme_path:
                found.append(os.path.realpath(scheme_path) + os.sep)
    return tuple(dict.fromkeys(found))


_STDLIB = _paths("stdlib", "platstdlib")
_INSTALLED = _paths("purelib", "platlib")


def _is_stdlib(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return True
    real = os.path.realpath(filename) if filename.startswith("/") else filename
    return real.startswith(_STDLIB) and not real.startswith(_INSTALLED)


# ---- the import hook ------------------------------------------------------------------------

_state = threading.local()
_active: Guard | None = None  # the guard that is armed, if any (one at a time per process)
_original_import = builtins.__import__
_original_import_module = importlib.import_module
_original_importlib_import = importlib.__import__
_hook_lock = threading.Lock()


def install_import_hook() -> None:
    """Route ``__import__``, ``importlib.__import__`` and ``importlib.import_module`` through
    the guard (once per process; they behave as before while no guard is armed)."""
    with _hook_lock:
        if getattr(builtins.__import__, "_learnres_guard", False):
            return
        builtins.__import__ = _guarded_import
        importlib.__import__ = _guarded_import
        importlib.import_module = _guarded_import_module


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    guard = _active
    if guard is None or level or getattr(_state, "busy", False):
        return _original_import(name, globals, locals, fromlist, level)
    untrusted = guard._untrusted(sys._getframe(1))
    if untrusted:
        guard._check_name(name, fromlist)
    module = _original_import(name, globals, locals, fromlist, level)
    if untrusted and fromlist:
        guard._check_fromlist(name, module, fromlist)
    return module


_guarded_import._learnres_guard = True


def _guarded_import_module(name, package=None):
    guard = _active
    if guard is not None and not name.startswith(".") and guard._untrusted(sys._getframe(1)):
        guard._check_name(name, ())
    return _original_import_module(name, package)


# ---- a process that runs nothing but the submission ---------------------------------------------

_AUDIT: dict = {}
_BLOCKED_EVENTS = (
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "pty.spawn",
    "ctypes.dlopen",
)


def seal_process(spec: ExerciseSpec) -> None:
    """For a process that exists only to run the submission (``learnres.grading.child``):
    from now on, reading the source or bytecode of the modules that hold the exercise's
    reference code fails (PermissionError), and so does starting another program or loading
    a C library. An audit hook (PEP 578) does it, and an audit hook cannot be removed."""
    files = set()
    for module_name, _ in spec.units:
        path = getattr(
            sys.modules.get(module_name) or _original_import_module(module_name), "__file__", None
        )
        if path:
            real = os.path.realpath(path)
            files.add(real)
            cached = importlib.util.cache_from_source(real)
            files.add(os.path.realpath(cached))
            files.add(os.path.realpath(os.path.dirname(cached)))  # __pycache__: no listing
    if _AUDIT:
        _AUDIT["files"] |= files
        return
    _AUDIT["files"] = files
    _AUDIT["what"] = f"exercise {spec.number}"

    def hook(event: str, args) -> None:
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.fsdecode(args[0])
            if os.path.realpath(path) in _AUDIT["files"]:
                raise PermissionError(
                    f"reading {path} is not allowed while {_AUDIT['what']} is graded: it holds "
                    "learnres's own solution"
                )
        elif event.startswith(_BLOCKED_EVENTS):
            raise PermissionError(f"{event} is not allowed while your code is graded")

    sys.addaudithook(hook)


# ---- tripwires -----------------------------------------------------------------------------


def tripped(message: str):
    """Called by a tripwire (learnres's own part, switched off): record it and raise."""
    guard = _active
    if guard is not None:
        guard.violations.append(message)
    raise GuardViolation(message)


def _tripwire_code(func: types.FunctionType, message: str) -> types.CodeType:
    """A code object that can replace ``func.__code__`` (same free variables) and calls
    ``tripped(message)``."""
    free = func.__code__.co_freevars
    lines = ["def _outer():"]
    lines += [f"    {name} = None" for name in free]
    lines.append("    def tripwire(*args, **kwargs):")
    if free:
        lines.append("        " + ", ".join(free) + ",")
    lines.append(
        f"        __import__('learnres.grading.guard', fromlist=['tripped']).tripped({message!r})"
    )
    lines.append("    return tripwire")
    namespace: dict = {}
    exec(compile("\n".join(lines), GUARD_FILE, "exec"), namespace)  # noqa: S102 (our own text)
    code = namespace["_outer"]().__code__
    if code.co_freevars != free:
        raise RuntimeError(f"tripwire for {func.__qualname__}: free variables do not match")
    return code.replace(co_name=func.__code__.co_name, co_qualname=func.__code__.co_qualname)


def _function(obj):
    """The plain function behind a method, staticmethod or classmethod (or None)."""
    obj = getattr(obj, "__func__", obj)
    return obj if isinstance(obj, types.FunctionType) else None


def _copy_function(f: types.FunctionType) -> types.FunctionType:
    """A new function object with ``f``'s code, globals and defaults (unaffected when ``f``'s
    own code is swapped for a tripwire)."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    g.__qualname__, g.__doc__, g.__module__ = f.__qualname__, f.__doc__, f.__module__
    g.__dict__.update(f.__dict__)
    return g


class _Refused:
    """Stands in for a unit that is not the student's: using it in any way fails."""

    def __init__(self, message: str):
        object.__setattr__(self, "_message", message)

    def __call__(self, *args, **kwargs):
        raise NotYourCode(object.__getattribute__(self, "_message"))

    def __getattr__(self, name):
        raise NotYourCode(object.__getattribute__(self, "_message"))

    def __repr__(self) -> str:
        return "<not your code>"


def _refusing_method(message: str):
    def method(*args, **kwargs):
        raise NotYourCode(message)

    return method


# ---- the guard -------------------------------------------------------------------------------


@dataclass
class Guard:
    """The rules for one submission.

    Arguments:
        spec: the exercise.
        filename: the submission's file, exactly as its functions' ``co_filename`` says.
        trusted_files: grader files (conftest.py, test_*.py) whose imports are never refused.
    """

    spec: ExerciseSpec
    filename: str
    trusted_files: frozenset[str] = frozenset()
    violations: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # unit or part -> why

    def __post_init__(self) -> None:
        self._unit_modules = {module for module, _ in self.spec.units}
        self._references: dict[str, object] = {}
        for module, name in self.spec.units:
            obj = getattr(_original_import_module(module), name)
            if isinstance(obj, (type, types.FunctionType)):
                self._references[name] = obj
        self._unit_ids = {id(obj): name for name, obj in self._references.items()}
        self._trusted = {os.path.realpath(f) for f in self.trusted_files}

    # ---- who is importing ----

    def _untrusted(self, frame) -> bool:
        """True when the nearest caller outside the standard library is not trusted code."""
        while frame is not None and _is_stdlib(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is None:
            return True  # a thread started straight on an import function
        filename = frame.f_code.co_filename
        if filename == self.filename or not filename.startswith("/"):
            return True
        real = os.path.realpath(filename)
        if real in self._trusted or real.startswith(_INSTALLED):
            return False
        return not (real.startswith(_LEARNRES_DIR + os.sep))

    def _refuse(self, what: str, why: str):
        message = (
            f"Exercise {self.spec.number}: importing {what} is not allowed while your code is "
            f"graded: {why}"
        )
        self.violations.append(message)
        raise RefusedImport(message)

    def _check_name(self, name: str, fromlist) -> None:
        names = [name] + [f"{name}.{item}" for item in (fromlist or ()) if item != "*"]
        for full in names:
            if full == "torch" or full.startswith("torch."):
                self._refuse(
                    full, "the grader compares your code with PyTorch, so it can't use PyTorch"
                )
            if any(full == m or full.startswith(m + ".") for m in _GRADER_MODULES):
                self._refuse(full, "it is the grader's own code")
        if name in self._unit_modules and not fromlist:
            self._refuse(name, self._module_reason(name))
        for item in fromlist or ():
            if f"{name}.{item}" in self._unit_modules:
                self._refuse(f"{name}.{item}", self._module_reason(f"{name}.{item}"))

    def _module_reason(self, module: str) -> str:
        return (
            f"it holds learnres's own solution of exercise {self.spec.number}, the code you are "
            f"writing (import only the helpers that {self.spec.slug}.py imports from it)"
        )

    def _check_fromlist(self, name: str, module, fromlist) -> None:
        if not name.startswith("learnres"):
            return
        for item in fromlist:
            obj = getattr(module, item, None)
            if id(obj) in self._unit_ids and obj is self._references[self._unit_ids[id(obj)]]:
                self._refuse(
                    f"{item} from {name}",
                    f"{item} is learnres's own solution of exercise {self.spec.number}; "
                    f"{self.spec.slug}.py must define it",
                )

    # ---- arming ----

    @contextlib.contextmanager
    def armed(self, given: tuple[str, ...] = ()):
        """Imports checked and learnres's own parts (except ``given``) switched off, inside."""
        global _active
        install_import_hook()
        if _active is not None:
            raise RuntimeError("a guard is already armed in this process")
        swapped = []
        try:
            for target, func in self._part_functions():
                if target in given:
                    continue
                message = (
                    f"your code called learnres's own {target} (exercise "
                    f"{self.spec.part_number(target)}) while it was graded: this test grades "
                    "your version, so learnres's is switched off here"
                )
                swapped.append((func, func.__code__))
                func.__code__ = _tripwire_code(func, message)
            _active = self
            yield self
        finally:
            _active = None
            for func, code in reversed(swapped):
                func.__code__ = code

    def _part_functions(self):
        """(target, learnres's function) for every part of the exercise."""
        for _, target in self.spec.parts:
            owner, _, method = target.partition(".")
            reference = self._references.get(owner)
            if reference is None:
                continue
            func = _function(vars(reference).get(method)) if method else reference
            if isinstance(func, types.FunctionType):
                yield target, func

    def load(self, name: str, path: str | Path) -> types.ModuleType:
        """Import the submission file as module ``name`` (in ``sys.modules``) under the guard,
        then replace whatever does not come from it (``check_provenance``)."""
        import importlib.util

        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            with self.armed():
                spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        self.check_provenance(module)
        return module

    def check_provenance(self, module: types.ModuleType) -> dict[str, str]:
        """Replace every unit (and method part) of ``module`` that does not come from
        ``self.filename`` by something that fails when used; return {name: why}."""
        where = Path(self.filename).name
        for name, reference in self._references.items():
            obj = module.__dict__.get(name)
            if obj is None:
                continue
            kind = "class" if isinstance(reference, type) else "function"
            problem = self._foreign(obj, module, kind)
            if problem:
                message = (
                    f"{name} in {where} is {problem}: a unit counts only when its code is in "
                    f"the file you submit (exercise {self.spec.number})"
                )
                self.refused[name] = message
                setattr(module, name, _Refused(message))
        for number, target in self.spec.parts:
            owner, _, method = target.partition(".")
            cls = module.__dict__.get(owner)
            if not method or not isinstance(cls, type):
                continue
            func = _function(getattr(cls, method, None))
            source = func.__code__.co_filename if func is not None else None
            if source != self.filename:
                origin = _describe_origin(source)
                message = (
                    f"{target} (exercise {number}) does not come from {where}: it is {origin}. "
                    "A part counts only when its code is in the file you submit"
                )
                self.refused[target] = message
                setattr(cls, method, _refusing_method(message))
        return dict(self.refused)

    def _foreign(self, obj, module, kind: str) -> str | None:
        """Why ``obj`` is not the submission's own ``kind``, or None when it is. (A class
        counts as the file's when the file made it; its part methods are checked one by
        one in ``check_provenance``.)"""
        if id(obj) in self._unit_ids:
            return f"learnres's own {self._unit_ids[id(obj)]}"
        if kind == "class":
            if not isinstance(obj, type):
                return f"a {type(obj).__name__}, not a class made by the file"
            if obj.__module__ != module.__name__:
                return f"a class from {obj.__module__}"
            return None
        func = _function(obj)
        if func is None:
            return f"a {type(obj).__name__}, not a function written in the file"
        if func.__code__.co_filename != self.filename:
            return _describe_origin(func.__code__.co_filename)
        return None

    def give(self, module: types.ModuleType, given: tuple[str, ...]):
        """Put learnres's own version of the ``given`` parts into ``module`` (a test supplies
        them so that one bug costs one part); returns an undo function."""
        undo = []
        for target in given:
            owner, _, method = target.partition(".")
            reference = self._references.get(owner)
            if reference is None:
                raise KeyError(f"{self.spec.slug}: no part {target!r} to give")
            if method:
                holder = module.__dict__.get(owner)
                if not isinstance(holder, type):
                    continue  # the class itself is refused: its tests fail anyway
                value = _copy_function(_function(vars(reference)[method]))
                name = method
            else:
                holder, name, value = module, owner, _copy_function(reference)
            old = holder.__dict__.get(name, _MISSING)
            setattr(holder, name, value)
            undo.append((holder, name, old))

        def restore():
            for holder, name, old in reversed(undo):
                if old is _MISSING:
                    delattr(holder, name)
                else:
                    setattr(holder, name, old)

        return restore


_MISSING = object()


def _describe_origin(filename: str | None) -> str:
    if filename is None:
        return "not a function"
    if filename.startswith(_LEARNRES_DIR + os.sep):
        return f"learnres's own code ({Path(filename).relative_to(Path(_LEARNRES_DIR).parent)})"
    return f"code from {filename}"
