"""learnres.lectures.store: a finished run kept small in chapters/runs."""

from __future__ import annotations

import argparse
import json
import shlex

import pytest

from learnres.lectures import stored_run, stored_seeds
from learnres.lectures.store import main, store_run, train_command
from learnres.train import cli as train_cli
from learnres.train.run import IDENTITY_KEYS, TrainConfig, train


def _parse(command: str) -> TrainConfig:
    words = shlex.split(command)
    assert words[:2] == ["learnres", "train"]
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    return train_cli.config_from_args(parser.parse_args(words[2:]))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"schedule": "warmup", "shortcut": "B", "subset": 1000, "lr": 0.05},
        {"milestones": [10, 30], "dtype": "float64", "seed": 3, "augment": False},
        {"processes": 2},  # a data-parallel run adds its sums in another order
    ],
)
def test_the_command_rebuilds_the_configuration(changes):
    """Parsed by learnres train's own parser, the command gives back every setting that
    decides the result, and the logging intervals."""
    resolved = TrainConfig(
        model="plain56",
        iterations=2000,
        data_dir="../shared/datasets",
        **{k: v for k, v in changes.items() if k != "milestones"},
    ).to_dict()
    resolved.update(
        eval_every=100,
        log_every=20,
        checkpoint_every=100,
        milestones=changes.get("milestones", [1000, 1500]),
    )
    command = train_command(resolved, out="runs/x")
    back = _parse(command).to_dict()
    checked = ("eval_every", "log_every", "checkpoint_every", "data_dir", "processes")
    for key in IDENTITY_KEYS + checked:
        if key == "milestones" and "milestones" not in changes:
            assert back[key] is None  # derived from --iterations, as in the run
            continue
        expected, got = resolved[key], back[key]
        assert (list(got) if isinstance(got, tuple) else got) == expected, key
    assert back["out"] == "runs/x"


def test_store_keeps_a_finished_run_and_refuses_an_unfinished_one(tmp_path, shared_datasets):
    common = dict(
        model="resnet8",
        data_dir=str(shared_datasets),
        subset=256,
        batch_size=32,
        eval_every=2,
        log_every=2,
        progress=False,
        plot=False,
        prefetch=False,
    )
    train(TrainConfig(iterations=4, out=str(tmp_path / "resnet8-seed0"), **common))
    dest = tmp_path / "stored"
    folder = store_run(tmp_path / "resnet8-seed0", dest=dest)
    assert sorted(p.name for p in folder.iterdir()) == [
        "command.txt",
        "config.json",
        "metrics.csv",
        "responses.csv",
    ]
    run = stored_run("resnet8-seed0", dest)
    assert run.iterations == 4 and len(run.responses["std"]) == 7
    assert run.config["out"] == "runs/resnet8-seed0" and run.config["test_images"] == 1017
    train_line, store_line = run.command.splitlines()
    assert _parse(train_line).to_dict()["subset"] == 256
    assert store_line.startswith("python -m learnres.lectures.store runs/resnet8-seed0")
    assert list(stored_seeds("resnet8", dest)) == [0]

    # an interrupted run (checkpoint before the last iteration) is not stored
    unfinished = tmp_path / "resnet8-seed1"
    train(TrainConfig(iterations=4, seed=1, out=str(unfinished), **common))
    state_path = unfinished / "config.json"
    config = json.loads(state_path.read_text())
    assert config["iterations"] == 4
    from learnres.train.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(unfinished / "checkpoint.npz")
    state["iteration"] = 2
    save_checkpoint(unfinished / "checkpoint.npz", state)
    with pytest.raises(ValueError, match="has not finished: its checkpoint is at iteration 2"):
        store_run(unfinished, dest=dest)
    assert main([str(unfinished), "--dest", str(dest)]) == 2
    assert not (dest / "resnet8-seed1").exists()
