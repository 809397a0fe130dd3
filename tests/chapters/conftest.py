"""Fixtures for the chapter tests: figures and stored runs go to temporary folders, so the
tests never write into the checkout."""

from __future__ import annotations

import pytest


@pytest.fixture
def lecture_env(tmp_path, monkeypatch):
    """Point the chapters' figure and stored-run folders at ``tmp_path`` (empty runs)."""
    figures, runs = tmp_path / "figures", tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("LEARNRES_FIGURES_DIR", str(figures))
    monkeypatch.setenv("LEARNRES_RUNS_DIR", str(runs))
    return {"figures": figures, "runs": runs}
