"""Fixtures shared by the whole suite.

``device`` runs a test once per backend: on NumPy ("cpu") and on CuPy ("cuda"). Tests take it
as an argument instead of being copied into GPU twins.

The CuPy leg runs everywhere. With a usable GPU it runs on real CuPy (test ids ``...-cuda``);
without one, on the suite's strict CuPy stand-in (``tests/cupy_standin``: NumPy underneath,
refusing host/device mixing as CuPy does, counting synchronisations, copies and launches;
test ids ``...-cuda-standin``). pytest's header and its closing summary say which ran.
``LEARNRES_TEST_CUPY=standin`` uses the stand-in even where a GPU is usable; ``=off`` skips
the CuPy leg.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from learnres import backend

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

_CHOICE = os.environ.get("LEARNRES_TEST_CUPY", "auto")
if _CHOICE not in ("auto", "standin", "off"):
    raise pytest.UsageError(f"LEARNRES_TEST_CUPY must be auto, standin or off, got {_CHOICE!r}")
NO_GPU_REASON = backend.gpu_problem()  # why no real GPU is usable (None: one is)
REAL_GPU = NO_GPU_REASON is None and _CHOICE == "auto"
if _CHOICE == "off":
    CUPY_LEG = None
elif REAL_GPU:
    CUPY_LEG = "cuda"
else:
    from tests import cupy_standin

    backend.use_cupy(cupy_standin.install())
    CUPY_LEG = "cuda-standin"

_CUPY_LEG_ITEMS: set[str] = set()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu, id=CUPY_LEG or "cuda")])
def device(request) -> str:
    if request.param == "cuda" and CUPY_LEG is None:
        pytest.skip("the CuPy leg is off (LEARNRES_TEST_CUPY=off)")
    return request.param


@pytest.fixture
def standin():
    """The CuPy stand-in (``counting()``, ``set_device_count``); skips on real CuPy."""
    if CUPY_LEG != "cuda-standin":
        pytest.skip(f"needs the CuPy stand-in; the CuPy leg here is {CUPY_LEG}")
    from tests import cupy_standin

    return cupy_standin


@pytest.fixture
def no_gpu():
    """learnres without CuPy for one test (the messages a machine without a GPU gives)."""
    saved = backend._cupy
    backend.use_cupy(None)
    try:
        yield
    finally:
        backend.use_cupy(saved)


requires_real_gpu = pytest.mark.skipif(not REAL_GPU, reason=f"needs a real GPU: {NO_GPU_REASON}")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def shared_datasets() -> Path:
    """The real data folder beside the checkout (../shared/datasets), as CI has it."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"{SHARED_DATASETS} not found")
    return SHARED_DATASETS


# ---- saying which CuPy ran ------------------------------------------------------------------


def _which_cupy() -> str:
    if CUPY_LEG is None:
        return "CuPy leg: off (LEARNRES_TEST_CUPY=off)"
    if CUPY_LEG == "cuda":
        cupy = backend._cupy
        return f"CuPy leg: real CuPy {cupy.__version__} on {backend.gpu_report()['devices']}"
    why = "LEARNRES_TEST_CUPY=standin" if _CHOICE == "standin" else f"no GPU: {NO_GPU_REASON}"
    return (
        f"CuPy leg: the CuPy stand-in (tests/cupy_standin, NumPy {np.__version__} "
        f"underneath; {why})"
    )


def pytest_report_header(config):
    return _which_cupy()


def pytest_collection_modifyitems(config, items):
    """The CuPy leg: the "cuda" half of ``device`` tests and the tests of the stand-in's
    counters (``standin``); all are marked ``gpu`` (``-m "not gpu"`` is the CPU leg)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_cupy = callspec is not None and callspec.params.get("device") == "cuda"
        if on_cupy or "standin" in getattr(item, "fixturenames", ()):
            _CUPY_LEG_ITEMS.add(item.nodeid)
            item.add_marker(pytest.mark.gpu)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _CUPY_LEG_ITEMS:
        return
    counts = {}
    for outcome in ("passed", "failed", "skipped", "error", "xfailed", "xpassed"):
        ids = {
            r.nodeid
            for r in terminalreporter.stats.get(outcome, [])
            if r.nodeid in _CUPY_LEG_ITEMS and (r.when == "call" or outcome != "passed")
        }
        if ids:
            counts[outcome] = len(ids)
    ran = ", ".join(f"{n} {k}" for k, n in counts.items()) or "none ran"
    terminalreporter.write_sep("-", f"{_which_cupy()}: {len(_CUPY_LEG_ITEMS)} tests, {ran}")
