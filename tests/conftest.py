"""Fixtures shared by the whole suite.

``device`` runs a test once per backend: on NumPy ("cpu") always, and on CuPy ("cuda")
when a GPU is usable (skipped otherwise). Tests take it as an argument instead of being
copied into GPU twins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learnres.backend import gpu_problem, is_gpu_available

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(
    params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)],
)
def device(request) -> str:
    if request.param == "cuda" and not is_gpu_available():
        pytest.skip(f"no usable GPU: {gpu_problem()}")
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def shared_datasets() -> Path:
    """The real data folder beside the checkout (../shared/datasets), as CI has it."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"{SHARED_DATASETS} not found")
    return SHARED_DATASETS
