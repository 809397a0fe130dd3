"""Precomputed curves for the chapters' widgets, so a slider answers at the speed of a hand.

Chapter 6's learning-rate slider shows ResNet-8 trained for ``FULL.iterations`` (500) SGD
steps at the learning rate it is set to. Training that on a CPU takes many minutes per
move, so the curves of every position of the slider are made once, by

    python -m learnres.lectures.sweeps --out chapters/runs/lr-sweep-resnet8

exactly as the chapter would make them in full mode (``train_fresh`` with ``FULL`` sizes,
seed 0, all 5,085 training images of the subset), and kept small in the repository:

    chapters/runs/lr-sweep-resnet8/sweep.json           what was run, and which lr diverged
    chapters/runs/lr-sweep-resnet8/lr0.1/metrics.csv    one history per learning rate
    chapters/runs/lr-sweep-resnet8/command.txt          the command above

``lr_sweep()`` reads them back (None when absent: the chapter then trains on demand and
says so). A run that diverges keeps the history up to the step that blew up.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from learnres.lectures.config import FULL, QUICK, Sizes, runs_dir
from learnres.train.metrics import MetricsHistory, read_csv

__all__ = ["COMMAND", "LR_GRID", "LR_SWEEP", "LrSweep", "lr_folder", "lr_sweep", "make_lr_sweep"]

LR_SWEEP = "lr-sweep-resnet8"
# The slider's positions: half-decades from 1e-3 to 10^0.5, as printed by "%g".
LR_GRID = (0.001, 0.00316, 0.01, 0.0316, 0.1, 0.316, 1.0, 3.16)
COMMAND = f"python -m learnres.lectures.sweeps --out chapters/runs/{LR_SWEEP}"


def lr_folder(lr: float) -> str:
    """The folder of one learning rate inside the sweep: ``lr0.1``, ``lr0.00316``."""
    return f"lr{lr:g}"


@dataclass
class LrSweep:
    """Stored learning-rate sweep of ResNet-8.

    Attributes:
        histories: ``{lr: MetricsHistory}``, learning rates in increasing order.
        diverged: ``{lr: message}`` for the runs whose loss became infinite (their history
            stops at the last logged window before that).
        sizes: what each run was: ``{"iterations", "batch_size", "train_images", "seed",
            "model", "mode"}``.
        command: the command that made the sweep.
    """

    histories: dict
    diverged: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    command: str = COMMAND

    @property
    def lrs(self) -> list[float]:
        return sorted(self.histories)

    def describe(self) -> str:
        """One sentence saying what was precomputed, for the reader of the chapter."""
        s = self.sizes
        images = s.get("train_images")
        images = "all 5,085" if images is None else f"{images:,}"
        lrs = ", ".join(f"{lr:g}" for lr in self.lrs)
        text = (
            f"**Precomputed:** {s.get('model', 'resnet8')} trained {s.get('iterations')} "
            f"iterations (batch {s.get('batch_size')}, {images} training images, seed "
            f"{s.get('seed')}, {s.get('mode')} mode) at each learning rate {lrs}, by "
            f"`{self.command}`; moving the slider reads these curves: nothing trains."
        )
        if self.diverged:
            text += " Diverged: " + ", ".join(f"lr {lr:g}" for lr in sorted(self.diverged)) + "."
        return text


def lr_sweep(root: Path | None = None) -> LrSweep | None:
    """The stored sweep in ``root / LR_SWEEP`` (default ``runs_dir()``), or None when it is
    absent or holds no run."""
    folder = (Path(root) if root is not None else runs_dir()) / LR_SWEEP
    meta_file = folder / "sweep.json"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    histories = {}
    for lr in meta.get("lrs", []):
        path = folder / lr_folder(lr) / "metrics.csv"
        if path.is_file():
            histories[float(lr)] = read_csv(path)
    if not histories:
        return None
    command_file = folder / "command.txt"
    command = command_file.read_text().strip() if command_file.is_file() else COMMAND
    diverged = {float(k): v for k, v in meta.get("diverged", {}).items() if float(k) in histories}
    return LrSweep(histories, diverged, meta.get("sizes", {}), command)


def make_lr_sweep(
    out: Path | None = None, lrs=LR_GRID, S: Sizes = FULL, seed: int = 0, data=None, log=print
) -> Path:
    """Train ResNet-8 at each of ``lrs`` (``train_fresh`` with sizes ``S``, seed ``seed``,
    He init seeded with 0, as chapter 6 does) and store each history in ``out``
    (default ``runs_dir() / LR_SWEEP``). Learning rates already stored are skipped, so an
    interrupted sweep resumes; ``sweep.json`` is rewritten after every run."""
    from learnres.lectures.experiments import load_cifar10, train_fresh
    from learnres.models import resnet
    from learnres.nn import init
    from learnres.train import TrainingDiverged

    out = Path(out) if out is not None else runs_dir() / LR_SWEEP
    out.mkdir(parents=True, exist_ok=True)
    meta_file = out / "sweep.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    sizes = {
        "model": "resnet8",
        "iterations": S.iterations,
        "batch_size": S.batch_size,
        "train_images": S.train_images,
        "seed": seed,
        "mode": S.mode,
    }
    if meta.get("sizes", sizes) != sizes:
        raise ValueError(
            f"{out} holds a sweep made with {meta['sizes']}, not {sizes}: use another folder"
        )
    done = {float(v) for v in meta.get("lrs", [])}
    diverged = dict(meta.get("diverged", {}))
    data = data if data is not None else load_cifar10(S)
    for lr in lrs:
        if lr in done and (out / lr_folder(lr) / "metrics.csv").is_file():
            log(f"lr {lr:g}: stored already")
            continue
        seen = []
        init.manual_seed(0)
        try:
            history = train_fresh(
                resnet(8),
                data,
                lr=lr,
                S=S,
                seed=seed,
                desc=f"ResNet-8, lr {lr:g}",
                callbacks=[lambda t: seen.append(t) if not seen else None],
            )
        except TrainingDiverged as e:
            history = seen[0].history if seen else MetricsHistory()
            diverged[f"{lr:g}"] = str(e).split(";")[0]
        (out / lr_folder(lr)).mkdir(exist_ok=True)
        history.write_csv(out / lr_folder(lr) / "metrics.csv")
        done.add(lr)
        meta = {"sizes": sizes, "lrs": sorted(done), "diverged": diverged}
        meta_file.write_text(json.dumps(meta, indent=1) + "\n")
        log(f"lr {lr:g}: {len(history)} rows" + (" (diverged)" if f"{lr:g}" in diverged else ""))
    (out / "command.txt").write_text(COMMAND + "\n")
    return out


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learnres.lectures.sweeps",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"sweep folder (default chapters/runs/{LR_SWEEP})"
    )
    parser.add_argument(
        "--lr",
        type=float,
        nargs="*",
        default=None,
        help="learning rates (default: the slider's grid, LR_GRID)",
    )
    parser.add_argument("--quick", action="store_true", help="quick-mode sizes (for testing)")
    args = parser.parse_args(argv)
    make_lr_sweep(args.out, tuple(args.lr) if args.lr else LR_GRID, QUICK if args.quick else FULL)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
