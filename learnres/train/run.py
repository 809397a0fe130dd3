"""A training run from a configuration: the paper's CIFAR protocol by default.

``TrainConfig`` holds every choice of a run; its defaults are section 4.2 of the paper:

    batch 128, SGD momentum 0.9, weight decay 1e-4, lr 0.1 divided by 10 at 32k and 48k
    iterations, 64k iterations, per-pixel mean subtraction, 4-pixel pad + 32x32 crop + flip,
    option A shortcuts, He initialisation (in the models).

Shorter runs (``iterations`` or ``epochs``) keep the shape of the schedule: the milestones
sit at 1/2 and 3/4 of the run (``learnres.optim.scaled_milestones``). ``train(config)``
loads the data, builds the model, optimizer, schedule and loaders, and runs a ``Trainer``
in the run folder ``config.out``, resuming from its checkpoint with ``resume=True``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

from learnres import backend
from learnres.data import (
    DataLoader,
    DatasetFormatError,
    load_dataset,
    split_validation,
    standard_transforms,
    subset,
)
from learnres.models import MODELS, canonical_name, cifar, normalise_name
from learnres.models.cifar import blocks_per_stage
from learnres.nn import init
from learnres.nn.blocks import SHORTCUT_OPTIONS
from learnres.optim import SCHEDULES, SGD, make_schedule
from learnres.train.checkpoint import MAX_META_DEPTH, CheckpointError, json_depth, load_checkpoint
from learnres.train.folder import RunFolderLock, atomic_write, claim_run_folder
from learnres.train.trainer import CHECKPOINT_NAME, Trainer, TrainResult

__all__ = [
    "DEFAULT_ITERATIONS",
    "DTYPES",
    "IDENTITY_KEYS",
    "NORMALIZATIONS",
    "RunData",
    "TrainConfig",
    "build_data",
    "build_model",
    "build_trainer",
    "check_device",
    "check_model_name",
    "default_intervals",
    "model_names",
    "parse_config",
    "resolve_iterations",
    "saved_config",
    "train",
]

DEFAULT_ITERATIONS = 64_000  # section 4.2: "terminate training at 64k iterations"
NORMALIZATIONS = ("pixel", "channel", "none")  # "pixel": the paper's per-pixel mean
DTYPES = ("float32", "float64")

# The choices that define a run's result: a resumed run must keep them.
IDENTITY_KEYS = (
    "model",
    "dataset",
    "iterations",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "nesterov",
    "schedule",
    "milestones",
    "shortcut",
    "subset",
    "validation",
    "seed",
    "augment",
    "normalization",
    "dtype",
)


@dataclass
class TrainConfig:
    """Everything that defines a training run (defaults: the paper's CIFAR-10 protocol).

    Attributes:
        model: a name from ``model_names()`` (resnet20, plain56, ...; also resnetN/plainN
            for any depth 6n+2, e.g. resnet8).
        dataset: "cifar10", "cifar100" or "fashion-mnist".
        data_dir: folder holding the data (else $LEARNRES_DATA_DIR, else the download cache).
        download: download missing data (through pooch, with checksums).
        device: "cpu", "cuda" or "cuda:N".
        iterations: optimizer steps; None with ``epochs`` None means the paper's 64,000.
        epochs: alternatively, passes over the training images (iterations = epochs x
            batches per epoch).
        batch_size, lr, momentum, weight_decay, nesterov: SGD (paper: 128, 0.1, 0.9, 1e-4, no).
        schedule: "paper" (steps at ``milestones``), "warmup" (lr/10 until training error
            < 80%, then "paper"; the paper's ResNet-110), "cosine".
        milestones: iterations where "paper" divides lr by 10; None: 1/2 and 3/4 of the run.
        shortcut: "A", "B" or "C" (section 3.3; ResNets only).
        subset: train on this many training images (class-balanced); None: all.
        validation: hold out this many training images (an int, or a fraction < 1) for
            validation (the paper: 5,000 of 50,000); 0: none.
        seed: seeds the weights, the subset and validation draws, shuffling, augmentation.
        augment: random crop + flip on training batches.
        normalization: "pixel" (per-pixel mean, the paper's), "channel" or "none".
        dtype: "float32" (default) or "float64" (slow; for comparisons).
        out: the run folder; None: runs/<model>-<dataset>-seed<seed>.
        log_every, eval_every, checkpoint_every: intervals in iterations; None:
            ``default_intervals(iterations)``.
        eval_batch_size: images per evaluation batch.
        prefetch: prepare training batches in a background thread.
        progress, plot: show a progress bar; write plot.png at the end.
        processes: split every batch over this many processes (CPU only; the same step,
            up to the order of float additions: ``learnres.data_parallel``).
    """

    model: str = "resnet20"
    dataset: str = "cifar10"
    data_dir: str | None = None
    download: bool = True
    device: str = "cpu"
    iterations: int | None = None
    epochs: float | None = None
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    schedule: str = "paper"
    milestones: tuple | None = None
    shortcut: str = "A"
    subset: int | None = None
    validation: float = 0
    seed: int = 0
    augment: bool = True
    normalization: str = "pixel"
    dtype: str = "float32"
    out: str | None = None
    log_every: int | None = None
    eval_every: int | None = None
    checkpoint_every: int | None = None
    eval_batch_size: int = 500
    prefetch: bool = True
    progress: bool = True
    plot: bool = True
    processes: int = 1

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones) if self.milestones is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        if not isinstance(d, dict):
            raise ValueError(f"a TrainConfig is made from a dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(
                f"unknown TrainConfig field(s): {', '.join(sorted(map(str, unknown)))}"
            )
        d = dict(d)
        if isinstance(d.get("milestones"), list):
            d["milestones"] = tuple(d["milestones"])
        return cls(**d)

    def check(self) -> TrainConfig:
        """Every value of the right type and in range, else ValueError naming the field and
        its command-line option (``batch_size (--batch-size) must be ...``). Returns self.

        Runs before any data is read or file written, so a mistake costs nothing.
        """

        def bad(name: str, expected: str):
            value = getattr(self, name)
            return ValueError(
                f"{name} (--{name.replace('_', '-')}) must be {expected}, got {value!r}"
            )

        def integer(name, low=1, optional=False):
            value = getattr(self, name)
            if value is None and optional:
                return
            if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
                raise bad(name, f"an integer >= {low}")

        def number(name, low=0.0, positive=False, optional=False):
            value = getattr(self, name)
            if value is None and optional:
                return
            if (
                not isinstance(value, Real)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < low
                or (positive and value <= low)
            ):
                raise bad(name, f"a finite number {'>' if positive else '>='} {low:g}")

        def choice(name, options):
            if getattr(self, name) not in options:
                raise bad(name, "one of " + ", ".join(map(repr, options)))

        for name in ("model", "dataset"):
            if not isinstance(getattr(self, name), str):
                raise bad(name, "a name")
        for name in ("data_dir", "out"):
            if getattr(self, name) is not None and not isinstance(
                getattr(self, name), (str, os.PathLike)
            ):
                raise bad(name, "a path")
        for name in ("download", "nesterov", "augment", "prefetch", "progress", "plot"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "true or false")
        try:
            backend.parse_device(self.device)
        except ValueError:
            raise bad("device", "'cpu', 'cuda' or 'cuda:N'") from None
        integer("iterations", optional=True)
        number("epochs", positive=True, optional=True)
        integer("batch_size")
        integer("processes")
        if self.processes > 1 and self.device != "cpu":
            raise bad("processes", "1 on a GPU (its kernels are parallel already)")
        if self.processes > self.batch_size:
            raise bad("processes", f"at most batch_size ({self.batch_size}): one image each")
        number("lr", positive=True)
        number("momentum")
        number("weight_decay")
        choice("schedule", SCHEDULES)
        if self.milestones is not None:
            ms = self.milestones
            if (
                not isinstance(ms, (tuple, list))
                or not all(
                    isinstance(m, Integral) and not isinstance(m, bool) and m >= 1 for m in ms
                )
                or list(ms) != sorted(ms)
            ):
                raise bad("milestones", "increasing integers >= 1")
        choice("shortcut", SHORTCUT_OPTIONS)
        integer("subset", optional=True)
        number("validation")
        if not float(self.validation).is_integer() and not 0 < self.validation < 1:
            raise bad("validation", "a count of images or a fraction between 0 and 1")
        integer("seed", low=0)
        if self.seed >= 2**63:
            raise bad("seed", "an integer in 0..2**63-1")
        choice("normalization", NORMALIZATIONS)
        choice("dtype", DTYPES)
        for name in ("log_every", "eval_every", "checkpoint_every"):
            integer(name, optional=True)
        integer("eval_batch_size")
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.out or f"runs/{self.model}-{self.dataset}-seed{self.seed}")


def default_intervals(iterations: int) -> dict:
    """Logging, evaluation and checkpoint intervals for a run of ``iterations`` steps.

    log_every = clamp(iterations / 100, 1, 100): 100 points of training error per run, and
    one per 100 iterations in the paper's 64k; eval_every = checkpoint_every =
    clamp(iterations / 10, 1, 1000): at least 10 test-error points, every 1k in long runs.
    """
    log = min(100, max(1, iterations // 100))
    every = min(1000, max(1, iterations // 10))
    return {"log_every": log, "eval_every": every, "checkpoint_every": every}


_GENERIC = re.compile(r"^(resnet|plain)(\d+)$")


def model_names() -> list[str]:
    """Models ``learnres train`` can build for 32x32 inputs: the paper's CIFAR nets, the MLPs,
    and the "-cifar" models (plain-18/34, ResNet-18/34 with the CIFAR stem, VGG-16/19)."""
    return [name for name, info in MODELS.items() if tuple(info.input_shape[1:]) == (32, 32)]


def check_model_name(name: str) -> str:
    """``name`` normalised ("ResNet-20" -> "resnet20", "VGG16_cifar" -> "vgg16-cifar");
    ValueError listing the valid names.

    Valid: ``model_names()``, or resnetN / plainN for any depth N = 6n + 2 (resnet8, ...).
    """
    key = normalise_name(name)
    match = _GENERIC.match(key)
    try:
        known = canonical_name(name)
    except ValueError:
        known = None
    if known in model_names():
        return known
    if match and key not in MODELS:
        blocks_per_stage(int(match.group(2)))  # ValueError unless the depth is 6n + 2
        return key
    hint = ""
    if known is not None and f"{known}-cifar" in model_names():
        hint = f"; {known} is the ImageNet network (224x224 images): use {known}-cifar"
    raise ValueError(
        f"unknown model {name!r} for 32x32 images; valid names: {', '.join(model_names())} "
        f"(or resnetN / plainN with N = 6n + 2, e.g. resnet8){hint}"
    )


def check_device(device: str) -> None:
    """ValueError naming --device when ``device`` ("cuda" or "cuda:N") is not usable here:
    no GPU is usable, or this machine has no GPU N."""
    try:
        backend.check_device(device)
    except RuntimeError:  # no GPU is usable here
        raise ValueError(
            f"device (--device) {device!r} is not usable here: {backend.gpu_problem()}"
        ) from None
    except ValueError as e:  # a name that is not a device, or no GPU N on this machine
        raise ValueError(f"device (--device): {e}") from None


def build_model(name: str, num_classes: int, in_channels: int, shortcut: str = "A"):
    """The CIFAR-style model ``name`` for images (in_channels, 32, 32) and ``num_classes``
    (see ``check_model_name`` for the names); ``shortcut`` goes to the ResNets."""
    key = check_model_name(name)
    if key.startswith(("mlp", "resmlp")):
        return MODELS[key].build(in_features=in_channels * 32 * 32, num_classes=num_classes)
    if key in MODELS and not _GENERIC.match(key):  # resnet18-cifar, vgg16-cifar, ...
        options = {"shortcut": shortcut} if key.startswith("resnet") else {}
        return MODELS[key].build(num_classes=num_classes, in_channels=in_channels, **options)
    kind, depth = _GENERIC.match(key).group(1), int(_GENERIC.match(key).group(2))
    if kind == "resnet":
        return cifar.resnet(
            depth, shortcut=shortcut, num_classes=num_classes, in_channels=in_channels
        )
    return cifar.plain(depth, num_classes=num_classes, in_channels=in_channels)


def _load_data(config: TrainConfig):
    train = load_dataset(config.dataset, "train", config.data_dir, download=config.download)
    test = load_dataset(config.dataset, "test", config.data_dir, download=config.download)
    for split in (train, test):
        if len(split) == 0:
            raise DatasetFormatError(f"the {config.dataset} {split.split} set holds no images")
    c, h, w = train.image_shape
    if test.image_shape != (c, h, w) or h > 32 or w > 32:
        raise DatasetFormatError(
            f"{config.dataset}: training images {train.image_shape} and test images "
            f"{test.image_shape} must have one shape of at most 32x32 (the models' input)"
        )
    try:
        if config.subset:
            train = subset(train, config.subset, seed=config.seed)
    except ValueError as e:
        raise ValueError(f"subset (--subset) {config.subset} does not fit the data: {e}") from e
    val = None
    if config.validation:
        size = config.validation
        size = int(size) if float(size).is_integer() else float(size)
        try:
            train, val = split_validation(train, size, seed=config.seed)
        except ValueError as e:
            raise ValueError(
                f"validation (--validation) {config.validation} does not fit the data: {e}"
            ) from e
    return train, val, test


@dataclass
class RunData:
    """The loaders of a run and facts about its data (what ``build_data`` returns)."""

    train_loader: object
    eval_loaders: dict
    num_classes: int
    in_channels: int
    sizes: dict


def build_data(config: TrainConfig) -> RunData:
    """Datasets, transforms and loaders for ``config``: training batches shuffled with
    ``seed``, augmented, the last incomplete batch dropped (every iteration sees
    ``batch_size`` images); validation/test batches in file order, not augmented."""
    train, val, test = _load_data(config)
    normalization = None if config.normalization == "none" else config.normalization
    train_tf, test_tf = standard_transforms(
        train, augment=config.augment, normalization=normalization
    )
    if config.batch_size > len(train):
        raise ValueError(
            f"batch_size (--batch-size) {config.batch_size} is larger than the {len(train)} "
            "training images: not one batch to train on"
        )
    loader = DataLoader.from_dataset(
        train,
        config.batch_size,
        shuffle=True,
        drop_last=True,
        seed=config.seed,
        transform=train_tf,
        device=config.device,
        prefetch=config.prefetch,
    )
    evals = {}
    for name, data in (("val", val), ("test", test)):
        if data is not None:
            evals[name] = DataLoader.from_dataset(
                data,
                config.eval_batch_size,
                shuffle=False,
                transform=test_tf,
                device=config.device,
                prefetch=config.prefetch,
            )
    sizes = {"train": len(train), "val": len(val) if val is not None else 0, "test": len(test)}
    return RunData(loader, evals, train.num_classes, train.image_shape[0], sizes)


def resolve_iterations(config: TrainConfig, batches_per_epoch: int) -> int:
    """``round(epochs * batches_per_epoch)``, else ``iterations``, else the paper's 64,000.

    Both may be set only when they agree (a resolved configuration saved by a run).
    """
    if config.epochs is not None:
        n = max(1, round(float(config.epochs) * batches_per_epoch))
        if config.iterations is not None and int(config.iterations) != n:
            raise ValueError(
                f"give iterations or epochs, not both ({config.epochs} epochs of "
                f"{batches_per_epoch} batches are {n} iterations, not {config.iterations})"
            )
        return n
    if config.iterations is not None:
        return int(config.iterations)
    return DEFAULT_ITERATIONS


def build_trainer(config: TrainConfig, callbacks=()) -> Trainer:
    """Data, model, optimizer, schedule, loaders and ``Trainer`` for ``config``.

    The model is initialised after ``learnres.nn.init.manual_seed(config.seed)``. The
    returned trainer's ``config`` holds the resolved configuration (iterations, milestones
    and intervals filled in); ``trainer.data_sizes`` the number of images per split.
    """
    config.check()
    check_model_name(config.model)
    check_device(config.device)
    data = build_data(config)
    init.manual_seed(config.seed)
    model = build_model(config.model, data.num_classes, data.in_channels, config.shortcut)
    if config.dtype == "float64":
        model.double()
    model.to(config.device)
    iterations = resolve_iterations(config, len(data.train_loader))
    resolved = config.to_dict()
    resolved["iterations"] = iterations
    for key, value in default_intervals(iterations).items():
        if resolved[key] is None:
            resolved[key] = value
    optimizer = SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )
    schedule = make_schedule(config.schedule, config.lr, iterations, config.milestones)
    steps = getattr(schedule, "after", schedule)  # the warm-up wraps the step schedule
    if getattr(steps, "milestones", None) is not None:
        resolved["milestones"] = list(steps.milestones)
    trainer = Trainer(
        model,
        optimizer,
        schedule,
        data.train_loader,
        iterations,
        eval_loaders=data.eval_loaders,
        out_dir=config.run_dir,
        log_every=resolved["log_every"],
        eval_every=resolved["eval_every"],
        checkpoint_every=resolved["checkpoint_every"],
        callbacks=callbacks,
        progress=config.progress,
        config=resolved,
        plot=config.plot,
        processes=config.processes,
    )
    trainer.data_sizes = data.sizes
    return trainer


def _differences(saved: dict, wanted: dict) -> list[str]:
    diffs = []
    for key in IDENTITY_KEYS:
        a, b = saved.get(key), wanted.get(key)
        if key in ("iterations", "milestones") and b is None:
            continue  # filled in from the saved run
        if isinstance(a, list):
            a = tuple(a)
        if isinstance(b, list):
            b = tuple(b)
        if a != b:
            diffs.append(f"{key}: checkpoint {a!r}, requested {b!r}")
    return diffs


def parse_config(text, source: str) -> dict:
    """The run configuration stored in a checkpoint (a JSON string) as a checked dict:
    ``TrainConfig.from_dict(...).check()`` must accept it. CheckpointError otherwise."""
    if not isinstance(text, str):
        raise CheckpointError(f"{source} has no readable configuration (got {type(text).__name__})")
    try:
        if json_depth(text) > MAX_META_DEPTH:
            raise ValueError(f"nested deeper than {MAX_META_DEPTH} levels")
        saved = json.loads(text)
        TrainConfig.from_dict(saved).check()
    except (ValueError, TypeError, RecursionError) as e:
        raise CheckpointError(f"{source} has an unusable configuration: {e}") from e
    return saved


def saved_config(run_dir) -> dict:
    """The configuration stored in the checkpoint of ``run_dir`` (CheckpointError if none)."""
    path = Path(run_dir) / CHECKPOINT_NAME
    state = load_checkpoint(path)
    return parse_config(state.get("config"), str(path))


def train(
    config: TrainConfig, resume: bool = False, callbacks=(), lock: RunFolderLock | None = None
) -> TrainResult:
    """Run ``config`` in ``config.run_dir``; with ``resume``, continue its checkpoint.

    The configuration is checked first (``TrainConfig.check``), then the run claims its
    folder (``learnres.train.folder``: one run per folder; pass ``lock`` when the caller
    holds the claim already). A new run refuses a folder that already holds a checkpoint
    (pass ``resume=True`` or choose another ``out``); a resumed run refuses a checkpoint
    whose identity settings (``IDENTITY_KEYS``: model, data, recipe, seed, ...) differ from
    ``config``'s, or whose state does not fit the run (``learnres.train.state_check``).
    Either way nothing is written before the checks pass.

    Raises:
        ValueError: a setting out of range (named), an unknown model, too little data.
        RunFolderError: the folder is a file, cannot be written, or another run holds it.
        CheckpointError: see above, or the checkpoint is corrupt.
        TrainingDiverged: the loss or the weights became NaN or infinite.
    """
    config.check()
    check_model_name(config.model)
    check_device(config.device)
    if lock is None:
        with claim_run_folder(config.run_dir) as lock:
            return _train_claimed(config, resume, callbacks)
    if not lock.held or Path(lock.path).resolve() != config.run_dir.resolve():
        raise ValueError(f"train: the lock given is not a held claim of {config.run_dir}")
    return _train_claimed(config, resume, callbacks)


def _train_claimed(config: TrainConfig, resume: bool, callbacks) -> TrainResult:
    run_dir = config.run_dir
    path = run_dir / CHECKPOINT_NAME
    state = None
    if resume:
        state = load_checkpoint(path)
        saved = parse_config(state.get("config"), str(path))
        diffs = _differences(saved, config.to_dict())
        if diffs:
            raise CheckpointError(
                f"{path} belongs to a different run; resuming it needs the same settings: "
                + "; ".join(diffs)
            )
        if config.iterations is None and config.epochs is None:
            config = dataclasses.replace(config, iterations=saved.get("iterations"))
    elif path.exists():
        raise CheckpointError(
            f"{run_dir} already holds a training run ({path}); pass --resume to continue it, "
            "or choose another --out"
        )
    trainer = build_trainer(config, callbacks=callbacks)
    if state is not None:
        trainer.load_state_dict(state, source=str(path))
    text = json.dumps(trainer.config, indent=2) + "\n"
    atomic_write(run_dir / "config.json", lambda f: f.write(text.encode()))
    return trainer.fit()
