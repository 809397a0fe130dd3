"""learnres.lectures: quick mode and sizes, folders, stored runs, figure provenance."""

from __future__ import annotations

import pytest

from learnres.lectures import (
    FULL,
    QUICK,
    data_dir,
    fresh_label,
    is_quick,
    missing_runs_note,
    save_figure,
    sizes,
    stored_label,
    stored_pairs,
    stored_run,
    stored_runs,
)
from learnres.lectures.config import repo_root


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("0", False), ("", False)])
def test_quick_mode_follows_the_environment(monkeypatch, value, quick):
    monkeypatch.setenv("LEARNRES_QUICK", value)
    assert is_quick() is quick
    assert sizes() is (QUICK if quick else FULL)


def test_quick_sizes_are_smaller_than_full():
    assert QUICK.quick and not FULL.quick
    for field in ("batch_size", "iterations", "mlp_iterations", "stats_batch", "timing_batch"):
        assert getattr(QUICK, field) < getattr(FULL, field), field
    assert QUICK.train_images is not None and FULL.train_images is None
    assert all((d - 2) % 6 == 0 for d in QUICK.depths + FULL.depths)  # CIFAR depths 6n+2


def test_data_dir_prefers_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LEARNRES_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("LEARNRES_DATA_DIR")
    shared = repo_root().parent / "shared" / "datasets"
    assert data_dir() == (shared if shared.is_dir() else None)


def _make_run(root, name, command="learnres train ..."):
    """A stored run written by the real training loop (a few iterations on 32 images)."""
    from learnres.train.run import TrainConfig, train

    out = root / name
    train(
        TrainConfig(
            model="resnet8",
            data_dir=str(data_dir()),
            subset=32,
            iterations=2,
            batch_size=8,
            eval_every=2,
            log_every=1,
            eval_batch_size=64,
            out=str(out),
            progress=False,
            plot=False,
            prefetch=False,
        )
    )
    (out / "command.txt").write_text(command + "\n")
    return out


def test_stored_runs_are_read_or_reported_missing(lecture_env, shared_datasets, monkeypatch):
    monkeypatch.setenv("LEARNRES_DATA_DIR", str(shared_datasets))
    runs = lecture_env["runs"]
    _make_run(runs, "resnet8", "learnres train --model resnet8 --iterations 2")
    run = stored_run("ResNet-8")  # names match loosely
    assert run is not None and run.name == "resnet8"
    assert run.command == "learnres train --model resnet8 --iterations 2"
    assert run.iterations == 2 and run.final("test_error") is not None
    assert run.config["model"] == "resnet8"
    found, missing = stored_runs(["resnet8", "resnet56"])
    assert list(found) == ["resnet8"] and missing == ["resnet56"]
    note = missing_runs_note(missing)
    assert "resnet56" in note and str(runs) in note
    assert "learnres train --model resnet8 --iterations 2" in stored_label(found)
    assert stored_run("resnet56") is None


def test_stored_run_without_metrics_is_absent(lecture_env):
    (lecture_env["runs"] / "plain20").mkdir()
    (lecture_env["runs"] / "plain20" / "command.txt").write_text("learnres train\n")
    assert stored_run("plain20") is None
    assert missing_runs_note([]) == ""


def test_stored_pairs_pair_each_seed_and_skip_the_incomplete(lecture_env):
    """Seeds in numeric order (seed10 after seed2); a seed missing its torch run and a
    folder not named seed<k> are left out; an absent folder gives ({}, None)."""
    folder = lecture_env["runs"] / "versus"
    header = "iteration,train_error,test_error\n"
    for seed, libs in [
        (10, ("learnres", "torch")),
        (2, ("learnres", "torch")),
        (3, ("learnres",)),
        ("x", ("learnres", "torch")),
    ]:
        for lib in libs:
            (folder / f"seed{seed}" / lib).mkdir(parents=True)
            error = 40.0 + (lib == "torch") + (seed if isinstance(seed, int) else 0)
            (folder / f"seed{seed}" / lib / "metrics.csv").write_text(f"{header}5,50.0,{error}\n")
    (folder / "command.txt").write_text("python -m learnres.train.versus_torch --seeds 2 3 10\n")
    pairs, command = stored_pairs("versus")
    assert list(pairs) == [2, 10]
    assert [(a.final(), b.final()) for a, b in pairs.values()] == [(42.0, 43.0), (50.0, 51.0)]
    assert command == "python -m learnres.train.versus_torch --seeds 2 3 10"
    assert stored_pairs("absent") == ({}, None)


def test_save_figure_writes_the_provenance_on_the_figure(lecture_env, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    monkeypatch.setenv("LEARNRES_QUICK", "1")
    fig = Figure(layout="constrained")
    fig.add_subplot().plot([0, 1], [1, 0])
    label = fresh_label("a test")
    path = save_figure(fig, "00_test", label)
    assert path == lecture_env["figures"] / "00_test.png" and path.stat().st_size > 1000
    texts = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert "FRESH QUICK-MODE RUN" in texts and "a test" in texts


def test_stored_label_names_each_model_once_with_its_seeds_and_device(lecture_env):
    from learnres.lectures import stored_seeds

    for seed in (1, 0):
        folder = lecture_env["runs"] / f"plain20-seed{seed}"
        folder.mkdir()
        (folder / "metrics.csv").write_text("iteration,train_error\n1,50\n")
        (folder / "config.json").write_text('{"device": "cpu"}')
        (folder / "command.txt").write_text(
            f"learnres train --model plain20 --seed {seed} --out runs/plain20-seed{seed}\n"
            f"python -m learnres.lectures.store runs/plain20-seed{seed}\n"
        )
    label = stored_label(stored_seeds("plain20"))
    assert label == (
        "STORED RUN(S) from chapters/runs: plain20-seed{0,1} (CPU): learnres train "
        "--model plain20 --seed {0,1} --out runs/plain20-seed{0,1}"
    )
