"""``learnres train``: train a model with the paper's CIFAR protocol (section 4.2).

    learnres train --model resnet20 --dataset cifar10 --data-dir ../shared/datasets \\
        --iterations 2000 --out runs/resnet20
    learnres train --model resnet34-cifar --dataset cifar100     # plain/ResNet/VGG on CIFAR-100

Every option defaults to the paper's recipe; a shorter ``--iterations`` keeps the
schedule's shape (milestones at 1/2 and 3/4 of the run). The run folder receives
metrics.csv, checkpoint.npz, config.json and plot.png. ``--resume`` continues the
checkpoint in ``--out`` with its saved settings (any option given must agree with them).

Exit status: 0 done, 1 diverged (the last finite checkpoint is kept), 2 a user's mistake
(a bad option value, an unknown name, missing or bad data, a bad checkpoint, a run folder
that is a file, read-only, full or in use by another run: one line naming the option or
file, no traceback), 130 interrupted (checkpoint saved). The options are checked before any
data is read or any file written; a traceback means a bug in learnres.
"""

from __future__ import annotations

import argparse
import math
import sys

from learnres.backend import check_device
from learnres.train.run import DEFAULT_ITERATIONS, TrainConfig

__all__ = ["add_arguments", "config_from_args", "main"]

_DEFAULTS = TrainConfig()


def _device(text: str) -> str:
    """--device's value: cpu, cuda or cuda:N, a GPU that is there and usable."""
    try:
        check_device(text)
    except (ValueError, RuntimeError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _integer(text: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        within = f">= {low}" if high is None else f"in {low}..{high}"
        raise argparse.ArgumentTypeError(f"expected an integer {within}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, 1)


def _seed(text: str) -> int:
    return _integer(text, 0, 2**63 - 1)


def _real(text: str, low: float = 0.0, positive: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < low or (positive and value <= low):
        raise argparse.ArgumentTypeError(
            f"expected a finite number {'>' if positive else '>='} {low:g}, got {text!r}"
        )
    return value


def _positive_real(text: str) -> float:
    return _real(text, positive=True)


def _size(text: str) -> float:
    value = _real(text)
    if not value.is_integer() and not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a count of images or a fraction between 0 and 1, got {text!r}"
        )
    return int(value) if value.is_integer() else value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``learnres train`` (defaults None: the run's value comes from
    ``TrainConfig``, or from the checkpoint when resuming)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        "Train a model with the paper's CIFAR protocol (He et al. 2015, section 4.2):\n"
        "SGD, batch 128, momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32k and\n"
        "48k of 64k iterations, per-pixel mean subtraction, 4-pixel pad + crop + flip.\n"
        "With --iterations N the milestones move to N/2 and 3N/4 (same shape, shorter run).\n"
        "Writes metrics.csv, checkpoint.npz, config.json and plot.png into --out;\n"
        "--resume continues that run with its saved settings."
    )
    what = parser.add_argument_group("what to train")
    what.add_argument(
        "--model",
        help=f"model name (default {_DEFAULTS.model}); resnet20/32/44/"
        "56/110/1202, plain20..110, mlp20/56, resmlp20/56, or resnetN/plainN for "
        "any depth N = 6n+2 (e.g. resnet8); for the CIFAR-100 comparison "
        "plain18-cifar, plain34-cifar, resnet18-cifar, resnet34-cifar (the "
        "ImageNet nets with a 3x3 stride-1 stem, no max pool), vgg16-cifar, "
        "vgg19-cifar (VGG with BN, one fc layer)",
    )
    what.add_argument("--dataset", help="cifar10 (default), cifar100 or fashion-mnist")
    what.add_argument(
        "--data-dir",
        help="folder holding the data (cifar-10-batches-py/, the "
        ".tar.gz archives, fashion-mnist/); default $LEARNRES_DATA_DIR, then the "
        "download cache",
    )
    what.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        default=None,
        help="fail with instructions instead of downloading missing data",
    )
    what.add_argument(
        "--shortcut",
        choices=["A", "B", "C"],
        help="ResNet shortcut option of section 3.3 (default A: zero-padding)",
    )
    what.add_argument(
        "--subset",
        type=_positive_int,
        metavar="N",
        help="train on N training images (class-balanced draw) for quick runs",
    )
    what.add_argument(
        "--validation",
        type=_size,
        metavar="N",
        help="hold out N training images (or a fraction, e.g. 0.1) as a "
        "validation set; the paper holds out 5000 of 50000 (default 0: none)",
    )
    length = parser.add_argument_group("how long").add_mutually_exclusive_group()
    length.add_argument(
        "--iterations",
        type=_positive_int,
        metavar="N",
        help=f"optimizer steps (default {DEFAULT_ITERATIONS}, the paper's)",
    )
    length.add_argument(
        "--epochs",
        type=_positive_real,
        metavar="E",
        help="passes over the training images instead of --iterations",
    )
    recipe = parser.add_argument_group("recipe (defaults: the paper's)")
    recipe.add_argument("--batch-size", type=_positive_int, help="images per step (default 128)")
    recipe.add_argument("--lr", type=_positive_real, help="initial learning rate (default 0.1)")
    recipe.add_argument("--momentum", type=_real, help="SGD momentum (default 0.9)")
    recipe.add_argument("--weight-decay", type=_real, help="L2 weight decay (default 1e-4)")
    recipe.add_argument(
        "--schedule",
        choices=["paper", "warmup", "cosine"],
        help="paper (default): lr/10 at 1/2 and 3/4 of the run (32k, 48k of "
        "64k); warmup: lr/10 until training error < 80%%, then paper "
        "(ResNet-110's recipe); cosine: cosine decay to 0",
    )
    recipe.add_argument(
        "--milestones",
        type=_positive_int,
        nargs="+",
        metavar="IT",
        help="iterations where the paper schedule divides lr by 10",
    )
    recipe.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        default=None,
        help="no random crop and flip",
    )
    recipe.add_argument(
        "--normalization",
        choices=["pixel", "channel", "none"],
        help="pixel (default): subtract the per-pixel mean image (the paper); "
        "channel: per-channel mean/std",
    )
    recipe.add_argument(
        "--seed",
        type=_seed,
        help="seed of weights, data order, augmentation and subset/validation draws (default 0)",
    )
    run = parser.add_argument_group("running")
    run.add_argument(
        "--device",
        type=_device,
        metavar="{cpu,cuda,cuda:N}",
        help="cpu (NumPy, default), cuda (CuPy, GPU 0) or cuda:N (GPU N)",
    )
    run.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    run.add_argument(
        "--out", metavar="DIR", help="run folder (default runs/<model>-<dataset>-seed<seed>)"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the checkpoint in --out (same settings; exact same result)",
    )
    run.add_argument(
        "--eval-every",
        type=_positive_int,
        metavar="N",
        help="iterations between test/validation evaluations (default iterations/10, at most 1000)",
    )
    run.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        metavar="N",
        help="iterations between checkpoints (default: as --eval-every)",
    )
    run.add_argument(
        "--log-every",
        type=_positive_int,
        metavar="N",
        help="iterations per training-error point (default iterations/100, at most 100)",
    )
    run.add_argument(
        "--no-progress", dest="progress", action="store_false", default=None, help="no progress bar"
    )
    run.add_argument(
        "--no-plot", dest="plot", action="store_false", default=None, help="do not write plot.png"
    )


_FIELDS = (
    "model",
    "dataset",
    "data_dir",
    "download",
    "shortcut",
    "subset",
    "validation",
    "iterations",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "schedule",
    "milestones",
    "augment",
    "normalization",
    "seed",
    "device",
    "dtype",
    "out",
    "eval_every",
    "checkpoint_every",
    "log_every",
    "progress",
    "plot",
)


def config_from_args(args: argparse.Namespace, saved: dict | None = None) -> TrainConfig:
    """The run's configuration: ``saved`` (a resumed run's) or the defaults, overridden by
    every option given on the command line."""
    from learnres.train.run import TrainConfig as Config

    base = dict(saved) if saved is not None else Config().to_dict()
    base = {k: v for k, v in base.items() if k in Config().to_dict()}
    given = {f: getattr(args, f) for f in _FIELDS if getattr(args, f, None) is not None}
    if saved is not None and ("iterations" in given or "epochs" in given):
        base["iterations"] = base["epochs"] = None
    if given.get("milestones") is not None:
        given["milestones"] = tuple(given["milestones"])
    base.update(given)
    return Config.from_dict(base)


def _check_names(config: TrainConfig) -> None:
    """ValueError (listing the valid names) for an unknown model or dataset, before any work."""
    from learnres.data import DATASET_NAMES
    from learnres.train.run import check_model_name

    aliases = {
        "cifar-10": "cifar10",
        "cifar-100": "cifar100",
        "fashion_mnist": "fashion-mnist",
        "fashionmnist": "fashion-mnist",
    }
    if aliases.get(config.dataset.lower(), config.dataset.lower()) not in DATASET_NAMES:
        raise ValueError(
            f"unknown dataset {config.dataset!r}; choose from {', '.join(DATASET_NAMES)}"
        )
    check_model_name(config.model)


def main(args: argparse.Namespace) -> int:
    from learnres.data.dataset import DatasetFormatError
    from learnres.data.safe_pickle import RefusedGlobalError
    from learnres.data.sources import ChecksumError, DatasetNotFoundError
    from learnres.train.checkpoint import CheckpointError
    from learnres.train.folder import RunFolderError, claim_run_folder
    from learnres.train.run import saved_config, train
    from learnres.train.trainer import TrainingDiverged

    def fail(message: str, status: int = 2) -> int:
        print(f"learnres train: error: {' '.join(message.split())}", file=sys.stderr)
        return status

    try:
        if args.resume:  # the settings are in the checkpoint: claim the folder, then read it
            first = config_from_args(args)
            _check_names(first)
            with claim_run_folder(args.out or first.run_dir) as lock:
                config = config_from_args(args, saved_config(lock.path))
                config.out = str(lock.path)  # continue the run in the folder it was read from
                result = _start(config, True, lock, train)
        else:  # every setting is known: check them all before the folder is touched
            config = config_from_args(args)
            with claim_run_folder(_checked(config).run_dir) as lock:
                result = _start(config, False, lock, train)
    except TrainingDiverged as e:
        return fail(str(e), status=1)
    except (
        CheckpointError,
        RunFolderError,
        DatasetNotFoundError,
        ChecksumError,
        DatasetFormatError,
        RefusedGlobalError,
    ) as e:
        return fail(str(e))
    except ValueError as e:  # bad settings: depth not 6n+2, subset too large, ...
        return fail(str(e))
    except OSError as e:  # the disk is full, a file cannot be read or written, ...
        where = f" ({e.filename})" if e.filename else ""
        return fail(f"{e.strerror or e}{where}; the previous checkpoint, if any, is kept")
    except KeyboardInterrupt:
        print("learnres train: aborted", file=sys.stderr)
        return 130
    out = result.out_dir
    if result.status == "interrupted":
        print(
            f"interrupted at iteration {result.iteration}; checkpoint saved to {result.checkpoint}"
        )
        print(f"continue with: learnres train --out {out} --resume")
        return 130
    final = result.final
    parts = [
        f"{k.replace('_error', '')} error {final[k]:.2f}%"
        for k in ("train_error", "val_error", "test_error")
        if k in final
    ]
    print(f"done: {result.iteration} iterations; " + ", ".join(parts))
    files = [out / "metrics.csv", out / "checkpoint.npz"]
    if (out / "plot.png").exists():
        files.append(out / "plot.png")
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def _checked(config: TrainConfig) -> TrainConfig:
    """``config`` with every value and name checked (ValueError naming the option)."""
    from learnres.train.run import check_device

    config.check()
    _check_names(config)
    check_device(config.device)
    return config


def _start(config: TrainConfig, resumed: bool, lock, train):
    _checked(config)
    print(_header(config, resumed=resumed), flush=True)
    return train(config, resume=resumed, lock=lock)


def _header(config: TrainConfig, resumed: bool) -> str:
    length = (
        f"{config.iterations} iterations"
        if config.iterations is not None
        else f"{config.epochs} epochs"
        if config.epochs is not None
        else f"{DEFAULT_ITERATIONS} iterations"
    )
    return (
        f"{'resuming' if resumed else 'training'} {config.model} on {config.dataset} "
        f"({config.device}, {config.dtype}): {length}, batch {config.batch_size}, "
        f"lr {config.lr} ({config.schedule} schedule), momentum {config.momentum}, "
        f"weight decay {config.weight_decay}, seed {config.seed} -> {config.run_dir}"
    )
