"""``learnres train``: train a model with the paper's CIFAR protocol (section 4.2).

    learnres train --model resnet20 --dataset cifar10 --data-dir ../shared/datasets \\
        --iterations 2000 --out runs/resnet20
    learnres train --model resnet34-cifar --dataset cifar100     # plain/ResNet/VGG on CIFAR-100

Every option defaults to the paper's recipe; a shorter ``--iterations`` keeps the
schedule's shape (milestones at 1/2 and 3/4 of the run). The run folder receives
metrics.csv, checkpoint.npz, config.json and plot.png. ``--resume`` continues the
checkpoint in ``--out`` with its saved settings (any option given must agree with them).
The options are ``TrainConfig``'s fields, one each, with its name and default (``_option``).

Exit status: 0 done, 1 diverged (the last finite checkpoint is kept), 2 a user's mistake
(a bad option value, an unknown name, missing or bad data, a bad checkpoint, a run folder
that is a file, read-only, full or in use by another run: one line naming the option or
file, no traceback), 130 interrupted (checkpoint saved). The options are checked before any
data is read or any file written; a traceback means a bug in learnres.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys

from learnres.backend import check_device
from learnres.nn.blocks import SHORTCUT_OPTIONS
from learnres.optim import SCHEDULES
from learnres.train.run import DEFAULT_ITERATIONS, DTYPES, NORMALIZATIONS, TrainConfig

__all__ = ["add_arguments", "config_from_args", "main"]

_FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}


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


def _option(group, name: str, text: str, **kwargs) -> None:
    """Add ``TrainConfig``'s field ``name`` to ``group`` as ``--name`` (``batch_size``:
    ``--batch-size``); a bool field as the flag that turns its default over (``--no-augment``,
    ``--nesterov``). ``text`` is the help; ``{default}`` in it shows the field's default.

    The option's own default is None: a value not given comes from ``TrainConfig``, or from
    the checkpoint when resuming (``config_from_args``).
    """
    if name not in _FIELDS:
        raise ValueError(f"--{name.replace('_', '-')}: TrainConfig has no field {name!r}")
    default = _FIELDS[name].default
    flag = "--" + name.replace("_", "-")
    if isinstance(default, bool):
        flag = "--no-" + flag[2:] if default else flag
        kwargs["action"] = "store_false" if default else "store_true"
    shown = f"{default:g}" if isinstance(default, float) else str(default)
    group.add_argument(flag, dest=name, default=None, help=text.format(default=shown), **kwargs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``learnres train``: one per ``TrainConfig`` field (``_option``: its
    name, its kind, its default in the help), and ``--resume``; in four groups."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        "Train a model with the paper's CIFAR protocol (He et al. 2015, section 4.2):\n"
        "SGD, batch 128, momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32k and\n"
        "48k of 64k iterations, per-pixel mean subtraction, 4-pixel pad + crop + flip.\n"
        "With --iterations N the milestones move to N/2 and 3N/4 (same shape, shorter run).\n"
        "Writes metrics.csv, checkpoint.npz, config.json and plot.png into --out;\n"
        "--resume continues that run with its saved settings."
    )
    _what_to_train(parser.add_argument_group("what to train"))
    _how_long(parser.add_argument_group("how long").add_mutually_exclusive_group())
    _recipe(parser.add_argument_group("recipe (defaults: the paper's)"))
    _running(parser.add_argument_group("running"))


def _what_to_train(what) -> None:
    _option(
        what,
        "model",
        "model name (default {default}); resnet20/32/44/56/110/1202, plain20..110, mlp20/56, "
        "resmlp20/56, or resnetN/plainN for any depth N = 6n+2 (e.g. resnet8); for the "
        "CIFAR-100 comparison plain18-cifar, plain34-cifar, resnet18-cifar, resnet34-cifar "
        "(the ImageNet nets with a 3x3 stride-1 stem, no max pool), vgg16-cifar, vgg19-cifar "
        "(VGG with BN, one fc layer)",
    )
    _option(what, "dataset", "cifar10, cifar100 or fashion-mnist (default {default})")
    _option(
        what,
        "data_dir",
        "folder holding the data (cifar-10-batches-py/, the .tar.gz archives, fashion-mnist/); "
        "default $LEARNRES_DATA_DIR, then the download cache",
    )
    _option(what, "download", "fail with instructions instead of downloading missing data")
    _option(
        what,
        "shortcut",
        "ResNet shortcut option of section 3.3 (default {default}; A: zero-padding, "
        "B: projections where the shape changes, C: projections everywhere)",
        choices=SHORTCUT_OPTIONS,
    )
    _option(
        what,
        "subset",
        "train on N training images (class-balanced draw) for quick runs",
        type=_positive_int,
        metavar="N",
    )
    _option(
        what,
        "validation",
        "hold out N training images (or a fraction, e.g. 0.1) as a validation set; the "
        "paper holds out 5000 of 50000; 0: none (default {default})",
        type=_size,
        metavar="N",
    )


def _how_long(length) -> None:
    """--iterations or --epochs (not both)."""
    _option(
        length,
        "iterations",
        f"optimizer steps (default {DEFAULT_ITERATIONS}, the paper's)",
        type=_positive_int,
        metavar="N",
    )
    _option(
        length,
        "epochs",
        "passes over the training images instead of --iterations",
        type=_positive_real,
        metavar="E",
    )


def _recipe(recipe) -> None:
    _option(recipe, "batch_size", "images per step (default {default})", type=_positive_int)
    _option(recipe, "lr", "initial learning rate (default {default})", type=_positive_real)
    _option(recipe, "momentum", "SGD momentum (default {default})", type=_real)
    _option(recipe, "weight_decay", "L2 weight decay (default {default})", type=_real)
    _option(recipe, "nesterov", "Nesterov momentum (not the paper's)")
    _option(
        recipe,
        "schedule",
        "paper: lr/10 at 1/2 and 3/4 of the run (32k, 48k of 64k); warmup: lr/10 until "
        "training error < 80%%, then paper (ResNet-110's recipe); cosine: cosine decay to 0 "
        "(default {default})",
        choices=SCHEDULES,
    )
    _option(
        recipe,
        "milestones",
        "iterations where the paper schedule divides lr by 10",
        type=_positive_int,
        nargs="+",
        metavar="IT",
    )
    _option(recipe, "augment", "no random crop and flip")
    _option(
        recipe,
        "normalization",
        "pixel: subtract the per-pixel mean image (the paper); channel: per-channel mean/std; "
        "none (default {default})",
        choices=NORMALIZATIONS,
    )
    _option(
        recipe,
        "seed",
        "seed of weights, data order, augmentation and subset/validation draws (default {default})",
        type=_seed,
    )


def _running(run) -> None:
    _option(
        run,
        "device",
        "cpu (NumPy), cuda (CuPy, GPU 0) or cuda:N (GPU N); default {default}",
        type=_device,
        metavar="{cpu,cuda,cuda:N}",
    )
    _option(run, "dtype", "default {default}; float64 is slow (for comparisons)", choices=DTYPES)
    _option(run, "out", "run folder (default runs/<model>-<dataset>-seed<seed>)", metavar="DIR")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the checkpoint in --out (same settings; exact same result)",
    )
    _option(
        run,
        "eval_every",
        "iterations between test/validation evaluations (default iterations/10, at most 1000)",
        type=_positive_int,
        metavar="N",
    )
    _option(
        run,
        "checkpoint_every",
        "iterations between checkpoints (default: as --eval-every)",
        type=_positive_int,
        metavar="N",
    )
    _option(
        run,
        "log_every",
        "iterations per training-error point (default iterations/100, at most 100)",
        type=_positive_int,
        metavar="N",
    )
    _option(
        run,
        "eval_batch_size",
        "images per evaluation batch (default {default})",
        type=_positive_int,
        metavar="N",
    )
    _option(
        run,
        "processes",
        "split every batch over N processes, the paper's two GPUs on CPU cores (CPU only; "
        "on 2 cores 2 is 1.2-1.3x faster than threads; default {default})",
        type=_positive_int,
        metavar="N",
    )
    _option(run, "prefetch", "prepare training batches in the main thread, not in a second one")
    _option(run, "progress", "no progress bar")
    _option(run, "plot", "do not write plot.png")


def config_from_args(args: argparse.Namespace, saved: dict | None = None) -> TrainConfig:
    """The run's configuration: ``saved`` (a resumed run's) or the defaults, overridden by
    every option given on the command line."""
    base = dict(saved) if saved is not None else TrainConfig().to_dict()
    base = {k: v for k, v in base.items() if k in _FIELDS}
    given = {f: getattr(args, f) for f in _FIELDS if getattr(args, f, None) is not None}
    if saved is not None and ("iterations" in given or "epochs" in given):
        base["iterations"] = base["epochs"] = None
    if given.get("milestones") is not None:
        given["milestones"] = tuple(given["milestones"])
    base.update(given)
    return TrainConfig.from_dict(base)


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
        f"({config.device}, {config.dtype}"
        f"{f', {config.processes} processes' if config.processes > 1 else ''}): "
        f"{length}, batch {config.batch_size}, "
        f"lr {config.lr} ({config.schedule} schedule), momentum {config.momentum}, "
        f"weight decay {config.weight_decay}, seed {config.seed} -> {config.run_dir}"
    )
