"""Keeping a finished training run, small, for the chapters to draw from.

A run made by ``learnres train`` lives in a folder outside the repository (its checkpoint
is megabytes). What a chapter needs is small: the history, the configuration, Fig. 7's
layer responses measured from the final weights, and the command that reproduces it all.

    python -m learnres.lectures.store runs/resnet56-seed0 [--name resnet56-seed0]
        [--data-dir ../shared/datasets] [--dest chapters/runs]

writes ``chapters/runs/<name>/``:

    metrics.csv     the run's history, as written by the training loop
    config.json     its resolved configuration (iterations, milestones, intervals)
    responses.csv   std of every 3x3 layer's response (Fig. 7; learnres.analysis.responses)
    command.txt     the ``learnres train`` command that reproduces the run (rebuilt from the
                    configuration, so it cannot disagree with it) and the store command

A run is stored only when it has finished (its checkpoint is at its last iteration).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

__all__ = ["main", "store_run", "train_command"]

# Options of ``learnres train`` in the order a reader expects them, with their config keys.
_OPTIONS = (
    ("model", "--model"),
    ("dataset", "--dataset"),
    ("data_dir", "--data-dir"),
    ("shortcut", "--shortcut"),
    ("subset", "--subset"),
    ("validation", "--validation"),
    ("iterations", "--iterations"),
    ("batch_size", "--batch-size"),
    ("lr", "--lr"),
    ("momentum", "--momentum"),
    ("weight_decay", "--weight-decay"),
    ("schedule", "--schedule"),
    ("milestones", "--milestones"),
    ("normalization", "--normalization"),
    ("seed", "--seed"),
    ("device", "--device"),
    ("dtype", "--dtype"),
    ("processes", "--processes"),  # the sums' order: a run repeats bit for bit at its count
    ("eval_every", "--eval-every"),
    ("log_every", "--log-every"),
    ("checkpoint_every", "--checkpoint-every"),
)
_ALWAYS = {"model", "dataset", "iterations", "seed", "eval_every", "log_every", "checkpoint_every"}


def train_command(config: dict, out: str, data_dir: str | None = None) -> str:
    """The ``learnres train`` command that makes the run described by ``config`` (a run's
    resolved ``config.json``) in folder ``out``: every setting that differs from the
    default, and always the model, dataset, iterations, seed and the logging intervals."""
    from learnres.optim.schedules import make_schedule
    from learnres.train.run import TrainConfig, default_intervals

    defaults = TrainConfig().to_dict()
    iterations = int(config["iterations"])
    defaults.update(default_intervals(iterations))
    steps = make_schedule("paper", 0.1, iterations)
    defaults["milestones"] = list(steps.milestones)
    values = dict(config, data_dir=data_dir if data_dir is not None else config.get("data_dir"))
    words = ["learnres", "train"]
    for key, option in _OPTIONS:
        value = values.get(key)
        if key not in _ALWAYS and (value is None or value == defaults.get(key)):
            continue
        if key in ("epochs", "subset", "validation") and not value:
            continue
        words.append(option)
        words.extend(str(v) for v in value) if isinstance(value, list) else words.append(str(value))
    if config.get("augment") is False:
        words.append("--no-augment")
    words += ["--out", out, "--no-progress"]
    return shlex.join(words)


def store_run(run_dir, name: str | None = None, dest=None, data_dir=None) -> Path:
    """Copy the small files of the finished run ``run_dir`` into ``dest/name`` (default
    ``chapters/runs/<folder name>``), measure its layer responses, write its command."""
    from learnres.analysis.responses import RESPONSES_NAME, run_responses, save_responses
    from learnres.lectures.config import runs_dir
    from learnres.train.checkpoint import load_checkpoint
    from learnres.train.trainer import CHECKPOINT_NAME

    run_dir = Path(run_dir)
    name = name or run_dir.name
    state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    config = json.loads(state["config"])
    if int(state["iteration"]) != int(config["iterations"]):
        raise ValueError(
            f"{run_dir} has not finished: its checkpoint is at iteration {int(state['iteration'])} "
            f"of {config['iterations']} (continue it with learnres train --out {run_dir} --resume)"
        )
    target = Path(dest) if dest is not None else runs_dir()
    target = target / name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "metrics.csv", target / "metrics.csv")
    out = f"runs/{name}"
    data = str(data_dir) if data_dir is not None else config.get("data_dir")
    measured = run_responses(run_dir, data_dir)
    save_responses(measured, target / RESPONSES_NAME)
    stored = dict(
        config,
        out=out,
        data_dir=data,
        test_images=measured.images,
        train_images=measured.train_images,
    )
    (target / "config.json").write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    store = f"python -m learnres.lectures.store {out} --name {name}"
    (target / "command.txt").write_text(train_command(config, out, data) + "\n" + store + "\n")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learnres.lectures.store",
        description="Keep a finished learnres train run, small, in chapters/runs/NAME "
        "(metrics.csv, config.json, responses.csv, command.txt).",
    )
    parser.add_argument("run", metavar="RUN_DIR", help="the run folder (with checkpoint.npz)")
    parser.add_argument("--name", help="stored name (default: the run folder's name)")
    parser.add_argument("--dest", help="folder of stored runs (default: chapters/runs)")
    parser.add_argument("--data-dir", help="data folder, if not the run's own")
    args = parser.parse_args(argv)
    try:
        target = store_run(args.run, args.name, args.dest, args.data_dir)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"stored {args.run} in {target}: " + ", ".join(sorted(p.name for p in target.iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
