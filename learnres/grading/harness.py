"""How a grader talks to a submission: it runs the student's code, and it computes what the
answer should be, and the two never mix.

A test in ``exercises/test_*.py`` takes the ``exercise`` fixture (an ``Exercise``) and

* draws its inputs from the ``rng`` fixture (seeded per test; the Gradescope zip uses its own
  seed, so its cases exist only there),
* runs the student's code with ``exercise.run(runner, *inputs, given=(...))``: ``runner`` is a
  module-level function of the grader, ``runner(module, *inputs)``, that calls the submission
  and returns *plain data* (``learnres.grading.plain``); ``given`` names parts for which the
  test supplies learnres's own version (so that one bug costs one part),
* computes the expected values with ``exercise.expect(fn, *inputs)`` (PyTorch, learnres's
  reference), never while the student's code runs,
* compares the two with ``learnres.grading.checks``.

Where the student's code runs:

* **in this process** (the default, ``pytest exercises/``): the submission is imported and
  run under ``learnres.grading.guard`` (imports refused, provenance, tripwires);
* **in a child process** (``--isolate``, what Gradescope's ``run_autograder`` uses): the
  submission is imported and run by ``python -m learnres.grading.child`` (as the user
  ``nobody`` when this process is root), under the same guard; requests and answers cross a
  pipe as plain data. This process never imports the submission, and it alone scores.

Where the expected values come from:

* computed on the spot (default);
* computed and written to a file (``--record-cases PATH``, used when the autograder zip is
  built, with ``--reference`` so that the reference must score full marks on the new cases);
* read from that file (``--replay-cases PATH``): neither PyTorch nor the reference is needed,
  and the file can be readable by the grading process alone.

Each test's ``exercise.expect`` calls are numbered in order; a replayed value is checked
against a digest of the arguments it was recorded with, so a grader that changed since the
zip was built fails loudly instead of comparing with the wrong numbers. Arguments of
``expect`` must therefore never depend on the student's answers.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pytest

from learnres.grading.guard import ExerciseSpec, Guard
from learnres.grading.plain import PlainDataError, decode, dumps, encode, loads

__all__ = [
    "SPEC_FILE",
    "Cases",
    "Exercise",
    "IsolatedSubmission",
    "LocalSubmission",
    "load_specs",
    "preload_torch",
    "seed_for",
    "student_error",
]

SPEC_FILE = "grading.json"
"""The exercises' units and parts, beside the graders (written by the exercise generator)."""

CASES_VERSION = 1


def load_specs(folder: str | Path) -> dict[str, ExerciseSpec]:
    """{slug: ExerciseSpec} from ``folder/grading.json``."""
    data = json.loads((Path(folder) / SPEC_FILE).read_text(encoding="utf-8"))
    return {slug: ExerciseSpec.from_dict(slug, d) for slug, d in data["exercises"].items()}


def seed_for(base_seed: int, nodeid: str) -> int:
    """The seed of one test: a hash of the run's base seed and the test's id."""
    digest = hashlib.sha256(f"{base_seed}:{nodeid}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _digest(args, kwargs) -> str:
    return hashlib.sha256(dumps([list(args), kwargs]).encode()).hexdigest()[:20]


class Cases:
    """The expected values of one run: computed, recorded to a file, or replayed from one.

    Arguments:
        mode: "compute", "record" or "replay".
        seed: the base seed of the inputs (replay: the recorded one).
    """

    def __init__(self, mode: str = "compute", seed: int = 0, values: dict | None = None):
        if mode not in ("compute", "record", "replay"):
            raise ValueError(f"mode must be compute, record or replay, got {mode!r}")
        self.mode, self.seed = mode, int(seed)
        self.values: dict[str, list] = values if values is not None else {}

    @classmethod
    def load(cls, path: str | Path) -> Cases:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
        if data.get("version") != CASES_VERSION:
            raise ValueError(f"{path}: not a learnres cases file (version {data.get('version')})")
        return cls("replay", data["seed"], data["values"])

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": CASES_VERSION, "seed": self.seed, "values": self.values}
        with gzip.open(path, "wt", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"), allow_nan=False)

    def value(self, nodeid: str, index: int, fn, args: tuple, kwargs: dict):
        """The ``index``-th expected value of test ``nodeid``."""
        if self.mode == "replay":
            entries = self.values.get(nodeid, [])
            if index >= len(entries):
                raise RuntimeError(
                    f"{nodeid}: no recorded value number {index + 1}: the grader changed since "
                    "its cases were recorded (rebuild the autograder zip)"
                )
            digest, tree = entries[index]
            if digest != _digest(args, kwargs):
                raise RuntimeError(
                    f"{nodeid}: value number {index + 1} was recorded for other inputs: the "
                    "grader changed since its cases were recorded (rebuild the autograder zip)"
                )
            return decode(tree)
        with _torch_on_one_thread():
            value = fn(*args, **kwargs)
        tree = encode(value)
        if self.mode == "record":
            entries = self.values.setdefault(nodeid, [])
            if index != len(entries):
                raise RuntimeError(f"{nodeid}: expected values recorded out of order")
            entries.append([_digest(args, kwargs), tree])
        return decode(tree)


def preload_torch() -> None:
    """Import PyTorch (when installed) before the tests start, for the expected values, and
    take one optimizer step: its first step imports more of PyTorch lazily (many seconds on a
    busy machine), and a test's timeout must not interrupt an import halfway."""
    try:
        import torch
        import torch.nn.functional  # noqa: F401
    except ImportError:
        return
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    p.grad = torch.ones(1, dtype=torch.float64)
    torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-4).step()


@contextlib.contextmanager
def _torch_on_one_thread():
    """PyTorch on one thread while a reference value is computed: the graders' tensors are
    tiny, and on a busy machine each op of a thread pool can wait milliseconds for a core
    (a batch norm of 300 numbers took 54 ms instead of 0.1 ms)."""
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ---- the student's errors ----------------------------------------------------------------------


def student_error(exc: BaseException, skip: int = 1) -> str:
    """The traceback of an error raised in the student's code (the harness's frames left out)."""
    tb = exc.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb, limit=-25)
    return "".join(lines).rstrip("\n")


def _fail_with_error(text: str, what: str = "Your code raised an error") -> None:
    pytest.fail(f"{what}:\n{text}", pytrace=False)


# ---- where the student's code runs ---------------------------------------------------------


class LocalSubmission:
    """The submission imported into this process, under the guard."""

    def __init__(self, spec: ExerciseSpec, path: Path, trusted: frozenset[str], module=None):
        self.spec, self.path = spec, path
        self.load_error: str | None = None
        self.module = None
        filename = module.__file__ if module is not None else str(path)
        self.guard = Guard(spec, filename, trusted)
        if module is not None:  # the reference solution, executed from text
            self.guard.check_provenance(module)
            self.module = module
        elif not path.is_file():
            self.load_error = f"{path.name} is missing: this exercise is graded from that file"
        else:
            try:
                self.module = self.guard.load(spec.slug, path)
            except Exception as e:  # noqa: BLE001 (any error in a student's file: shown in each test)
                self.load_error = student_error(e, skip=0)

    def ensure_started(self) -> None:
        """Nothing to start: the module was imported when this was made."""

    def run(self, runner, args: tuple, given: tuple[str, ...], timeout: float | None):
        guard = self.guard
        guard.violations.clear()
        undo = guard.give(self.module, given)
        try:
            with guard.armed(given):
                value = runner(self.module, *args)
            text = dumps(value)
        except Exception as e:  # noqa: BLE001 (the student's error, shown to the student)
            if guard.violations:
                pytest.fail(guard.violations[0], pytrace=False)
            _fail_with_error(student_error(e))
        finally:
            undo()
        if guard.violations:
            pytest.fail(guard.violations[0], pytrace=False)
        return loads(text)

    def close(self) -> None:
        sys.modules.pop(self.spec.slug, None)


class IsolatedSubmission:
    """The submission imported and run by a child process (``learnres.grading.child``).

    The child gets a folder of its own with a copy of the submission and of the graders (it
    needs their runner functions), readable by everyone; when this process is root the child
    runs as ``nobody``, so it can read neither the expected values nor anything else of ours,
    nor write the results. Its stdout and stderr are collected and shown in the test's output.
    """

    START_TIMEOUT = 120.0

    def __init__(self, spec: ExerciseSpec, path: Path, graders: Path):
        self.spec, self.path, self.graders = spec, path, graders
        self.load_error: str | None = None
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None
        if not path.is_file():
            self.load_error = f"{path.name} is missing: this exercise is graded from that file"

    # ---- the child's lifetime ----

    def _start(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="learnres-child-"))
        os.chmod(folder, 0o755)
        graders = sorted(self.graders.glob("test_*.py"))
        for source in [self.path, self.graders / SPEC_FILE, *graders]:
            target = folder / source.name
            shutil.copyfile(source, target)
            os.chmod(target, 0o644)
        self.folder = folder
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self.log = tempfile.TemporaryFile(mode="a+b")  # O_APPEND: the child always appends
        user = _unprivileged_user()
        env = {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
            or key.startswith(("LEARNRES_", "OMP_", "OPENBLAS_", "MKL_"))
        }
        env.update(
            HOME=str(folder),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONNOUSERSITE="1",
            PYTHONUNBUFFERED="1",  # the student's prints reach the test they belong to
        )
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]  # a development checkout
        command = [
            sys.executable,
            "-m",
            "learnres.grading.child",
            "--slug",
            self.spec.slug,
            "--folder",
            str(folder),
            "--fd-in",
            str(to_child_r),
            "--fd-out",
            str(from_child_w),
        ]
        kwargs = {}
        if user is not None:
            kwargs.update(user=user[0], group=user[1], extra_groups=[])
        self.process = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=(to_child_r, from_child_w),
            start_new_session=True,
            **kwargs,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._send = os.fdopen(to_child_w, "w", encoding="utf-8")
        self._receive = os.fdopen(from_child_r, "r", encoding="utf-8")
        self._log_seen = 0
        hello = self._read(self.START_TIMEOUT)
        if "load_error" in hello:
            self.load_error = str(hello["load_error"])
            self.close()

    def _read(self, timeout: float | None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._receive], [], [], wait)
            if ready:
                line = self._receive.readline()
                if not line:
                    code = self.process.wait()
                    raise _ChildGone(f"the process running your code stopped (exit status {code})")
                try:
                    message = loads(line)
                except PlainDataError as e:
                    raise _ChildGone(f"the process running your code sent something else: {e}")
                if not isinstance(message, dict):
                    raise _ChildGone("the process running your code sent something else")
                return message
            if deadline is not None and time.monotonic() >= deadline:
                raise _ChildTimeout(f"your code took longer than {timeout:.0f} s")

    def _show_output(self) -> None:
        """Copy what the child printed since the last call into this test's output."""
        self.log.seek(self._log_seen)
        text = self.log.read(1_000_000)
        self._log_seen = self.log.tell()
        if text:
            sys.stdout.write(text.decode("utf-8", "replace"))

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                try:
                    os.killpg(self.process.pid, 9)
                except (ProcessLookupError, PermissionError):
                    self.process.kill()
            self.process.wait()
            for f in (self._send, self._receive):
                f.close()
            self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def ensure_started(self) -> None:
        """Start the child (and import the submission there) unless it runs already: called
        by the ``exercise`` fixture, so that the start does not count against a test's time."""
        if self.process is None and self.load_error is None:
            self._start()

    # ---- one call ----

    def run(self, runner, args: tuple, given: tuple[str, ...], timeout: float | None):
        self.ensure_started()
        if self.load_error is not None:
            pytest.fail(
                f"could not load exercises/{self.path.name}:\n{self.load_error}", pytrace=False
            )
        request = {
            "runner": [runner.__module__, runner.__qualname__],
            "args": list(args),
            "given": list(given),
        }
        done = False
        try:
            self._send.write(dumps(request) + "\n")
            self._send.flush()
            answer = self._read(timeout)
            done = True
        except (_ChildGone, _ChildTimeout, BrokenPipeError) as e:
            pytest.fail(str(e), pytrace=False)
        finally:
            self._show_output()
            if not done:
                self.close()  # its state is unknown: the next test starts a fresh one
        if "violation" in answer:
            pytest.fail(str(answer["violation"]), pytrace=False)
        if "error" in answer:
            _fail_with_error(str(answer["error"]))
        if "value" not in answer:
            pytest.fail("the process running your code sent no value", pytrace=False)
        return answer["value"]


class _ChildGone(Exception):
    pass


class _ChildTimeout(Exception):
    pass


_USER: list = []  # the answer of _unprivileged_user, found once per process


def _unprivileged_user() -> tuple[int, int] | None:
    """(uid, gid) of ``nobody`` when this process is root, that user exists and it can run
    this Python with learnres; else None (the child then runs as this process's user, and
    ``child_user()`` says so)."""
    if _USER:
        return _USER[0]
    _USER.append(None)
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import grp
    import pwd

    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        return None
    gid = user.pw_gid
    for group in ("nogroup", "nobody"):
        try:
            gid = grp.getgrnam(group).gr_gid
            break
        except KeyError:
            continue
    env = {"PATH": os.environ.get("PATH", ""), "HOME": "/"}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import learnres.grading.child"],
            user=user.pw_uid,
            group=gid,
            extra_groups=[],
            env=env,
            cwd="/",
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if probe.returncode == 0:
        _USER[0] = (user.pw_uid, gid)
    return _USER[0]


def child_user() -> str:
    """Who runs the submission in ``--isolate`` mode, in words (for the report header)."""
    if _unprivileged_user() is not None:
        return "the unprivileged user nobody"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return (
            "root, as this process (WARNING: the user nobody cannot run this Python and "
            "learnres here; install them where every user can read them)"
        )
    return "this process's user"


# ---- what a test holds -------------------------------------------------------------------------


class Exercise:
    """The ``exercise`` fixture: one test's handle on the submission and on the expected values.

    ``run`` calls the student's code (see the module docstring), ``expect`` computes (or looks
    up) a reference value. In-process runs also allow ``exercise.name`` for a name of the
    submitted module (graders written before ``run`` existed); a child process refuses it.
    """

    def __init__(self, submission, cases: Cases, nodeid: str, timeout: float | None):
        self._submission, self._cases = submission, cases
        self._nodeid, self._timeout = nodeid, timeout
        self._expects = 0

    def run(self, runner, *args, given: tuple[str, ...] = ()):
        """``runner(module, *args)`` on the student's module; its result as plain data."""
        if "." in runner.__qualname__ and "<locals>" in runner.__qualname__:
            raise TypeError(f"runner {runner.__qualname__} must be a module-level function")
        if self._submission.load_error is not None:
            pytest.fail(
                f"could not load exercises/{self._submission.path.name}:\n"
                f"{self._submission.load_error}",
                pytrace=False,
            )
        args = loads(dumps(list(args)))  # the runner sees plain data, as in a child
        return self._submission.run(runner, tuple(args), tuple(given), self._timeout)

    def expect(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``: a reference value (computed, recorded or replayed)."""
        index, self._expects = self._expects, self._expects + 1
        return self._cases.value(self._nodeid, index, fn, args, kwargs)

    @property
    def spec(self) -> ExerciseSpec:
        return self._submission.spec

    _OWN = frozenset({"_submission", "_cases", "_nodeid", "_timeout", "_expects"})

    def __setattr__(self, name: str, value) -> None:
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:  # monkeypatch.setattr(exercise, "sum_to", ...) in an in-process grader
            setattr(self._module_for(name), name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._OWN:
            object.__delattr__(self, name)
        else:
            delattr(self._module_for(name), name)

    def _module_for(self, name: str):
        submission = self.__dict__.get("_submission")
        module = getattr(submission, "module", None)
        if not isinstance(submission, LocalSubmission):
            raise AttributeError(
                f"exercise.{name}: the submission runs in another process; graders use "
                "exercise.run(runner, ...)"
            )
        if module is None:
            pytest.fail(
                f"could not load exercises/{submission.path.name}:\n{submission.load_error}",
                pytrace=False,
            )
        return module

    def __getattr__(self, name: str):
        if name in self._OWN or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._module_for(name), name)


def test_timeout(item: pytest.Item) -> float | None:
    """The test's ``@pytest.mark.timeout(s)`` less a second (so the child's clock runs out
    first and the test fails with a clear message), or None."""
    marker = item.get_closest_marker("timeout")
    if marker is None or not marker.args:
        return None
    return max(1.0, float(marker.args[0]) - 1.0)


test_timeout.__test__ = False  # not a pytest test, despite its name


def rng_for(base_seed: int, nodeid: str) -> np.random.Generator:
    return np.random.default_rng(seed_for(base_seed, nodeid))
