"""The run folder: claimed by one run at a time, and written one whole file at a time.

Two runs writing into one folder would interleave their checkpoints, metrics and configs
(DESIGN.md, "Runs own their folder"). So a run *claims* its folder before it reads or
writes anything there:

    with claim_run_folder("runs/resnet20") as folder:   # RunFolderBusy if another run has it
        ...                                              # train, save checkpoints

The claim is an exclusive ``flock`` on ``.learnres.lock`` inside the folder, held for the
whole run. The operating system drops a flock when its process ends, however it ends
(``kill -9`` included), so a crashed run never leaves its folder locked; the file only
records who holds the lock (pid, host, start time, command) for the message a second run
prints. A released claim removes the lock file, and the folders the claim itself created
when the run left them empty (a run refused for a bad option leaves no trace).

Every file of a run is written with ``atomic_write``: into a temporary file of its own in
the same folder (a unique name per writer, so two writers never share one), flushed to
disk, then renamed onto the target. ``os.replace`` is atomic, so the target is always the
old file or the new one, never a mix; the folder itself is then flushed so the rename
survives a power cut. A writer killed mid-write leaves only its temporary file, which the
next claim of the folder removes.

Problems with the folder itself (it is a file, lies under a file, cannot be written)
raise ``RunFolderError`` with the path and the reason, before anything else happens.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import socket
import sys
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; the claim still checks the folder
    fcntl = None

__all__ = [
    "LOCK_NAME",
    "RunFolderBusy",
    "RunFolderError",
    "RunFolderLock",
    "atomic_write",
    "claim_run_folder",
]

LOCK_NAME = ".learnres.lock"

# the temporary files of atomic_write, .<target name>.<pid>-<8 hex digits>.tmp, and the one
# shared name of older versions, .<checkpoint.npz|metrics.csv|config.json>.tmp
_TEMPORARY = re.compile(r"^\.(.+\.\d+-[0-9a-f]{8}|checkpoint\.npz|metrics\.csv|config\.json)\.tmp$")


class RunFolderError(RuntimeError):
    """The run folder cannot be used: it is a file, lies under a file, or cannot be written."""


class RunFolderBusy(RunFolderError):
    """Another run holds the folder (``holder``: what its lock file says, a dict)."""

    def __init__(self, message: str, holder: dict):
        super().__init__(message)
        self.holder = holder


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _describe(holder: dict) -> str:
    """``pid 4242 on host, started 2025-01-31 12:00:05, running "learnres train ..."``"""
    if not holder:
        return "a run that is just starting"
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("host"):
        parts[0] += f" on {holder['host']}"
    if holder.get("started"):
        parts.append(f"started {holder['started']}")
    if holder.get("command"):
        parts.append(f"running {holder['command']!r}")
    return ", ".join(parts)


def _read_holder(fd: int) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        holder = json.loads(text)
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _make_folder(path: Path) -> list[Path]:
    """Make ``path`` and its missing parents; returns the folders made (outermost first)."""
    missing = []
    level = path
    while not level.exists() and not level.is_symlink():
        missing.append(level)
        if level.parent == level:
            break
        level = level.parent
    if not missing and not path.is_dir():
        raise RunFolderError(f"{path} is a file, not a folder: choose another run folder (--out)")
    if missing and not level.is_dir():
        raise RunFolderError(
            f"cannot make the run folder {path}: {level} is a file, not a folder "
            "(choose another --out)"
        )
    made = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
    except OSError as e:
        _remove_empty(made)
        raise RunFolderError(f"cannot make the run folder {path}: {_reason(e)}") from e
    return made


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):  # innermost first
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (the run wrote something), or gone: leave it and its parents


class RunFolderLock:
    """A claimed run folder (see ``claim_run_folder``); ``release()`` or leave the ``with``."""

    def __init__(self, path: Path, fd: int, made: list[Path]):
        self.path, self._fd, self._made = path, fd, made

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file, drop the lock, and remove the folders the claim made if
        nothing else was written into them. Releasing twice does nothing."""
        if self._fd is None:
            return
        lock = self.path / LOCK_NAME
        try:
            if os.stat(lock).st_ino == os.fstat(self._fd).st_ino:
                os.unlink(lock)  # while still holding it: a waiting claim re-checks the inode
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = None
        _remove_empty(self._made)

    def __enter__(self) -> RunFolderLock:
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False

    def __repr__(self) -> str:
        return f"RunFolderLock({str(self.path)!r}, held={self.held})"


def claim_run_folder(path) -> RunFolderLock:
    """Make the run folder ``path`` if needed and claim it for this process.

    Raises:
        RunFolderBusy: another run holds it; the message names that run's pid, host,
            start time and command.
        RunFolderError: ``path`` is a file, lies under a file, or cannot be written (read-only,
            no permission, disk full). Nothing is left behind.
    """
    path = Path(path)
    made = _make_folder(path)
    try:
        claim = RunFolderLock(path, _lock(path), made)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        _write_holder(claim._fd)
        _remove_temporaries(path)
    except OSError as e:
        claim.release()
        raise RunFolderError(f"cannot write in the run folder {path}: {_reason(e)}") from e
    return claim


def _lock(path: Path) -> int:
    """Open ``path/LOCK_NAME`` and take its exclusive flock without waiting; the fd."""
    lock = path / LOCK_NAME
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:
            raise RunFolderError(f"cannot write in the run folder {path}: {_reason(e)}") from e
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunFolderError(f"cannot lock the run folder {path}: {_reason(e)}") from e
            raise RunFolderBusy(
                f"the run folder {path} is in use by another learnres run "
                f"({_describe(holder)}); wait for it to end or choose another --out",
                holder,
            ) from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the previous holder removed the file as we opened it: once more


def _write_holder(fd: int) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(["learnres" if i == 0 else a for i, a in enumerate(sys.argv)])[:300],
    }
    data = json.dumps(holder).encode()
    os.ftruncate(fd, 0)
    if os.pwrite(fd, data, 0) != len(data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.fsync(fd)


def _remove_temporaries(path: Path) -> None:
    """Delete the temporary files that killed writers left (only ours: we hold the folder)."""
    for entry in path.iterdir():
        if _TEMPORARY.match(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink()


def _fsync_folder(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows cannot open folders: the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write) -> Path:
    """Write ``path`` whole or not at all: ``write(f)`` fills a binary file object that is a
    temporary file of this writer's own in the same folder; once it returns, the file is
    flushed to disk and renamed onto ``path``. On any error (or Ctrl-C) the temporary file is
    removed, ``path`` keeps its previous content, and the error propagates."""
    path = Path(path)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666
            )
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)  # say which file could not be written (disk full, ...)
        raise
    _fsync_folder(path.parent)
    return path
