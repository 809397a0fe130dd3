"""learnres.lectures.sweeps: the learning-rate widget of chapter 6 reads precomputed curves.

A sweep is made by the real training code (tiny sizes here), read back, resumed without
retraining what is stored, and a diverging rate keeps its history up to the blow-up. The
sweep stored in the repository, when present, is what full mode would train.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from learnres.lectures import FULL, QUICK, runs_dir
from learnres.lectures.sweeps import LR_GRID, LR_SWEEP, lr_folder, lr_sweep, make_lr_sweep

TINY = dataclasses.replace(
    QUICK, train_images=64, test_images=40, batch_size=8, iterations=4, log_every=2, eval_every=4
)


def test_a_sweep_is_stored_read_back_and_resumed(tmp_path, shared_datasets, monkeypatch):
    monkeypatch.setenv("LEARNRES_DATA_DIR", str(shared_datasets))
    out = tmp_path / LR_SWEEP
    make_lr_sweep(out, lrs=(0.1, 1e20), S=TINY, log=lambda *_: None)
    sweep = lr_sweep(tmp_path)
    assert sweep.lrs == [0.1, 1e20]
    assert sweep.histories[0.1].rows[-1]["iteration"] == TINY.iterations
    assert sweep.histories[0.1].last("test_error") is not None
    assert list(sweep.diverged) == [1e20] and "diverged" in sweep.diverged[1e20]
    assert sweep.sizes == {
        "model": "resnet8",
        "iterations": 4,
        "batch_size": 8,
        "train_images": 64,
        "seed": 0,
        "mode": "quick",
    }
    assert "**Precomputed:**" in sweep.describe() and "Diverged: lr 1e+20" in sweep.describe()
    metrics = out / lr_folder(0.1) / "metrics.csv"
    before = metrics.stat().st_mtime_ns
    said = []
    make_lr_sweep(out, lrs=(0.1,), S=TINY, log=said.append)  # stored already: not retrained
    assert said == ["lr 0.1: stored already"] and metrics.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="holds a sweep made with"):
        make_lr_sweep(out, lrs=(0.1,), S=dataclasses.replace(TINY, iterations=6))


def test_no_sweep_reads_as_none(tmp_path):
    assert lr_sweep(tmp_path) is None
    (tmp_path / LR_SWEEP).mkdir()
    (tmp_path / LR_SWEEP / "sweep.json").write_text(json.dumps({"lrs": [0.1]}))
    assert lr_sweep(tmp_path) is None  # listed, but no metrics.csv


def test_the_stored_sweep_is_what_full_mode_would_train():
    sweep = lr_sweep(runs_dir())
    if sweep is None:
        pytest.skip(f"no stored sweep in {runs_dir() / LR_SWEEP}")
    assert sweep.sizes == {
        "model": "resnet8",
        "iterations": FULL.iterations,
        "batch_size": FULL.batch_size,
        "train_images": FULL.train_images,
        "seed": 0,
        "mode": "full",
    }
    assert set(sweep.lrs) <= set(LR_GRID) and 0.1 in sweep.lrs
    for lr, history in sweep.histories.items():
        last = history.rows[-1]["iteration"]
        assert last == FULL.iterations or lr in sweep.diverged, (lr, last)
