"""``learnres scale``: a learnres model trained by PyTorch's DistributedDataParallel, and back.

When a run outgrows one process (the paper's CIFAR-10 runs used two GPUs, section 4.2; its
ImageNet runs a mini-batch of 256, section 3.4, over a number of GPUs it does not state), the
model need not be rewritten: ``to_torch`` makes its PyTorch twin, PyTorch's
``DistributedDataParallel`` (DDP) trains the twin with one process per GPU, and
``from_torch`` brings the weights back into the learnres model, saved in a checkpoint that
loads like a ``learnres train`` one. This module is only that glue; the engine is PyTorch's.

    # 8 GPUs on one machine: one process each, NCCL between them
    torchrun --standalone --nproc_per_node 8 -m learnres scale \\
        --model resnet110 --device cuda --schedule warmup --out runs/resnet110-ddp
    # 2 processes on a CPU (gloo): what the tests run
    torchrun --standalone --nproc_per_node 2 -m learnres scale \\
        --model resnet8 --iterations 200 --out runs/resnet8-ddp

Without ``torchrun`` it runs as one process (a world of 1). Every option is
``learnres train``'s, with the same defaults (the paper's recipe); ``--backend`` picks the
process group (default: NCCL with ``--device cuda``, gloo on CPUs).

What one iteration is, with P processes:

* ``--batch-size`` is the **global** batch, the paper's 128: each process takes
  ``128 / P`` images (it must divide). The learning rate and the schedule stay the paper's,
  since the gradient is still the mean over 128 images: DDP averages the processes'
  gradients with an all-reduce during ``backward``.
* **BatchNorm normalises over each process's own images** (128 / P of them), as in the
  paper's multi-GPU runs; the running statistics are each process's own, and DDP copies
  process 0's to the others at the start of every forward pass. Evaluation and the
  checkpoint use process 0's.
* The data pipeline is ``learnres train``'s: the learnres readers, the per-pixel mean of the
  training images, 4-pixel pad + random crop + flip (``standard_transforms``), applied to
  each process's batch. ``torch.utils.data.DistributedSampler`` (seeded, reshuffled every
  epoch, tail dropped) gives each process a disjoint share of every epoch. The order is
  torch's, not the learnres ``DataLoader``'s, so runs are alike in recipe, not batch for
  batch.

The run folder gets what ``learnres train`` writes (``learnres.train``'s own writers):
``metrics.csv`` (training loss and error over the global batch, test/validation error
evaluated in shards and summed over processes), ``plot.png``, ``config.json`` (the resolved
configuration plus ``scale_out``: processes, batch per process, backend) and
``checkpoint.npz`` with the learnres model's weights (``from_torch``), the momentum buffers
in learnres's SGD layout, the schedule and the history. At the end process 0 prints how far
the learnres model's logits are from the torch model's (``ScaleResult.round_trip_error``).
Load the model with

    state = learnres.train.load_checkpoint("runs/resnet110-ddp/checkpoint.npz")
    model = learnres.train.run.build_model("resnet110", num_classes=10, in_channels=3)
    model.load_state_dict(state["model"])          # or: load_run_model(run folder)

Not here: ImageNet (``learnres train``'s models and datasets are the 32x32 ones; learnres
has no ImageNet reader, although ``to_torch`` / ``from_torch`` carry the ImageNet ResNets
both ways); resuming a DDP run (its sampler state differs from the learnres loader's, so
``learnres train --resume`` refuses the checkpoint, and ``--resume`` is refused here);
synchronised BatchNorm; several machines (torchrun's ``--nnodes`` should work, untested).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as torch_dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from learnres.reference.convert import to_torch
from learnres.reference.from_torch import from_torch
from learnres.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from learnres.train.metrics import MetricsHistory, evaluation_line
from learnres.train.plot import matplotlib_problem, plot_history
from learnres.train.run import (
    TrainConfig,
    build_model,
    check_model_name,
    default_intervals,
    resolve_iterations,
)
from learnres.train.trainer import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    PLOT_NAME,
    TrainingDiverged,
    TrainResult,
)

__all__ = [
    "Distributed",
    "ScaleResult",
    "ShardedLoader",
    "add_arguments",
    "evaluate_sharded",
    "free_port",
    "init_distributed",
    "load_run_model",
    "main",
    "optimizer_state_for_learnres",
    "sync_buffers",
    "train_ddp",
    "train_step",
]


# ---- the process group -------------------------------------------------------------------
@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: ``rank`` of ``world_size`` processes (``local_rank``
    on its machine), the torch ``device`` it trains on and the ``backend`` between them."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed(device: str = "cpu", backend: str | None = None) -> Distributed:
    """Join the process group that ``torchrun`` describes in the environment (RANK,
    WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT); without it, a group of one process.

    ``device`` "cuda" trains on GPU ``LOCAL_RANK`` with NCCL, "cpu" with gloo; ``backend``
    overrides the choice. Raises ValueError when ``device`` is "cuda" and this process has
    no GPU of that number.
    """
    if "WORLD_SIZE" in os.environ:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank, init_method = int(os.environ.get("LOCAL_RANK", rank)), "env://"
    else:  # a plain `python -m`: a world of one
        rank, world, local_rank = 0, 1, 0
        init_method = f"tcp://127.0.0.1:{free_port()}"
    if device == "cuda":
        if not torch.cuda.is_available() or local_rank >= torch.cuda.device_count():
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            raise ValueError(
                f"--device cuda: process {rank} needs GPU {local_rank}, this machine has "
                f"{count} usable by torch (torch {torch.__version__})"
            )
        torch.cuda.set_device(local_rank)
        where = torch.device("cuda", local_rank)
    elif device == "cpu":
        where = torch.device("cpu")
    else:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    backend = backend or ("nccl" if device == "cuda" else "gloo")
    if not torch_dist.is_available():
        raise ValueError(f"this torch ({torch.__version__}) was built without torch.distributed")
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world)
    return Distributed(rank, world, local_rank, where, backend)


def _broadcast(value):
    """Process 0's ``value`` (any picklable object), on every process."""
    box = [value]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


# ---- data --------------------------------------------------------------------------------
def _load_data(config: TrainConfig):
    """Training, validation (or None) and test ``Dataset``s, cut as ``learnres train`` cuts
    them (the same subset and validation draws for the same seed)."""
    from learnres.data import load_dataset, split_validation, subset

    train = load_dataset(config.dataset, "train", config.data_dir, download=config.download)
    test = load_dataset(config.dataset, "test", config.data_dir, download=config.download)
    if config.subset:
        train = subset(train, config.subset, seed=config.seed)
    val = None
    if config.validation:
        size = config.validation
        size = int(size) if float(size).is_integer() else float(size)
        train, val = split_validation(train, size, seed=config.seed)
    return train, val, test


def _load_data_in_turn(config: TrainConfig, dist: Distributed):
    """``_load_data`` on process 0 first (it may download into the cache), then on the
    others; an error of process 0's is raised on every process (none waits forever)."""
    from learnres.data.dataset import DatasetFormatError
    from learnres.data.sources import ChecksumError, DatasetNotFoundError

    kinds = {
        k.__name__: k for k in (ValueError, DatasetNotFoundError, ChecksumError, DatasetFormatError)
    }
    data, problem = None, None
    if dist.is_main:
        try:
            data = _load_data(config)
        except tuple(kinds.values()) as e:
            problem = (type(e).__name__, str(e))
    name, message = _broadcast(problem) or (None, None)
    if name is not None:
        raise kinds[name](message)
    return data if data is not None else _load_data(config)


class ShardedLoader:
    """This process's training batches: ``DistributedSampler``'s share of every epoch, cut
    into batches of ``batch_size`` (the last incomplete one dropped) and transformed with a
    learnres transform (``transform(uint8 (B, C, H, W), rng) -> float32``).

    Iterating gives one epoch of (images float (B, C, H, W), labels int64 (B,)) torch
    tensors; the next iteration is the next epoch (reshuffled: ``set_epoch``). Each process
    draws its crops and flips from its own stream, seeded with (seed, rank).
    """

    def __init__(self, dataset, batch_size: int, dist: Distributed, seed: int, transform):
        self.dataset, self.batch_size, self.transform = dataset, int(batch_size), transform
        self.sampler = DistributedSampler(
            dataset.labels,
            num_replicas=dist.world_size,
            rank=dist.rank,
            shuffle=True,
            seed=seed,
            drop_last=True,
        )
        if len(self) == 0:
            raise ValueError(
                f"{len(dataset)} training images over {dist.world_size} processes give each "
                f"{len(self.sampler)}, fewer than one batch of {self.batch_size}"
            )
        self.rng = np.random.default_rng([seed, dist.rank])
        self.epoch = 0
        self.position = 0

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        order = np.fromiter(iter(self.sampler), dtype=np.int64)  # this process's share
        b = self.batch_size
        for k in range(len(self)):
            index = order[k * b : (k + 1) * b]
            images = self.dataset.images[index]  # uint8 (B, C, H, W)
            if self.transform is not None:
                images = self.transform(images, self.rng)
            self.position = k + 1
            yield (
                torch.from_numpy(np.ascontiguousarray(images)),
                torch.from_numpy(self.dataset.labels[index]),
            )
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {
            "kind": "DistributedSampler",
            "epoch": self.epoch,
            "position": self.position,
            "world_size": self.sampler.num_replicas,
            "batch_per_process": self.batch_size,
            "seed": self.sampler.seed,
        }


# ---- one step, one evaluation ------------------------------------------------------------
def train_step(model, optimizer, images, labels, dist: Distributed) -> tuple[float, int, int]:
    """One SGD step of a DDP ``model`` on this process's batch.

        logits = model(x)                               # (B, classes), BN over these B
        loss   = cross_entropy(logits, y)               # mean over this process's B
        [loss * B, wrong, B] summed over processes      # the global batch's mean and error
        loss.backward()                                 # DDP: grad = mean over processes
        optimizer.step()

    Returns (mean loss, wrong predictions, images) over the global batch, the same on every
    process. Raises ``TrainingDiverged`` on every process, before any update, when the
    global loss is not finite (the optimizer's ``lr`` is the one set for this step).
    """
    dtype = next(model.parameters()).dtype
    x = images.to(dist.device, dtype=dtype, non_blocking=True)
    y = labels.to(dist.device, non_blocking=True)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    wrong = (logits.detach().argmax(1) != y).sum()
    seen = torch.tensor(float(len(y)), dtype=torch.float64, device=dist.device)
    stats = torch.stack([loss.detach().double() * seen, wrong.double(), seen])
    torch_dist.all_reduce(stats)  # sums over processes
    total_loss, total_wrong, seen = stats.tolist()
    mean_loss = total_loss / seen
    if not math.isfinite(mean_loss):
        lr = optimizer.param_groups[0]["lr"]
        raise TrainingDiverged(
            f"training diverged: the loss is {mean_loss} (learning rate "
            f"{lr:g}); stopped before applying that step. Try a smaller "
            "--lr, or --schedule warmup.",
            -1,
            lr,
            mean_loss,
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return mean_loss, int(total_wrong), int(seen)


def sync_buffers(module, dist: Distributed) -> None:
    """Copy process 0's buffers (BN running statistics) to every process, as DDP does at
    the start of each forward pass; used before evaluating."""
    for buffer in module.buffers():
        torch_dist.broadcast(buffer, src=0)


def evaluate_sharded(
    module, dataset, transform, dist: Distributed, batch_size: int = 500
) -> tuple[float, float]:
    """Mean cross-entropy and error (percent) of ``module`` (eval mode, no graph) on every
    image of ``dataset``: process ``r`` takes images ``r, r + P, r + 2P, ...`` and the sums
    are added over processes, so each image counts once."""
    dtype = next(module.parameters()).dtype
    was_training = module.training
    module.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=dist.device)  # loss sum, wrong, seen
    index = np.arange(dist.rank, len(dataset), dist.world_size)
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            part = index[start : start + batch_size]
            images = dataset.images[part]
            if transform is not None:
                images = transform(images, None)
            x = torch.from_numpy(np.ascontiguousarray(images)).to(dist.device, dtype=dtype)
            y = torch.from_numpy(dataset.labels[part]).to(dist.device)
            logits = module(x)
            sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
            sums[1] += (logits.argmax(1) != y).sum().double()
            sums[2] += len(part)
    module.train(was_training)
    torch_dist.all_reduce(sums)
    loss_sum, wrong, seen = sums.tolist()
    return loss_sum / seen, 100.0 * wrong / seen


# ---- the way back ------------------------------------------------------------------------
def optimizer_state_for_learnres(optimizer: torch.optim.SGD) -> dict:
    """``torch.optim.SGD.state_dict()`` in ``learnres.optim.SGD``'s layout: the same keys
    (torch's), momentum buffers as NumPy arrays, only the hyper-parameters learnres has."""
    state = optimizer.state_dict()
    hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    groups = [
        {**{k: g[k] for k in hyper}, "params": list(g["params"])} for g in state["param_groups"]
    ]
    buffers = {
        int(i): {
            k: v.detach().cpu().numpy().copy()
            for k, v in s.items()
            if isinstance(v, torch.Tensor) and v.dim() > 0
        }
        for i, s in state["state"].items()
    }
    return {"state": buffers, "param_groups": groups}


def load_run_model(run_dir):
    """The learnres model of a run folder written by ``learnres train`` or ``learnres
    scale``, with its checkpoint's weights (built from the checkpoint's configuration)."""
    from learnres.data import load_dataset

    state = load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
    config = json.loads(state["config"])
    shape = config.get("scale_out", {}).get("input")
    if shape is None:  # a learnres train run: ask the data for its classes and channels
        data = load_dataset(config["dataset"], "test", config.get("data_dir"), download=False)
        shape = {"num_classes": data.num_classes, "in_channels": data.image_shape[0]}
    model = build_model(
        config["model"], shape["num_classes"], shape["in_channels"], config.get("shortcut", "A")
    )
    if config.get("dtype") == "float64":
        model.double()
    model.load_state_dict(state["model"])
    return model


# ---- the run -----------------------------------------------------------------------------
@dataclass
class ScaleResult(TrainResult):
    """``TrainResult`` and ``round_trip_error``: on process 0, the relative difference
    (``learnres.testing.relative_error``) between the logits of the learnres model (the
    checkpoint's weights) and of the torch model on up to 32 held-out images, eval mode."""

    round_trip_error: float | None = None


def _check_config(config: TrainConfig, dist: Distributed) -> int:
    """The batch per process; ValueError for settings this command cannot run."""
    if config.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {config.dtype!r}")
    check_model_name(config.model)
    if config.batch_size % dist.world_size:
        raise ValueError(
            f"--batch-size {config.batch_size} (the global batch) does not divide into "
            f"{dist.world_size} processes; choose a multiple of {dist.world_size}"
        )
    return config.batch_size // dist.world_size


def train_ddp(config: TrainConfig, dist: Distributed) -> ScaleResult:
    """Train ``config`` (a ``learnres train`` configuration) with DDP over ``dist``'s
    process group; process 0 writes the run folder. Returns a ``ScaleResult`` on every
    process with the same metrics (they are global); ``checkpoint``, ``out_dir`` and
    ``round_trip_error`` only on process 0.

    Raises:
        CheckpointError: ``config.out`` already holds a run (checked before any work).
        ValueError: bad settings (model, dataset, a batch that does not divide, ...).
        TrainingDiverged: the loss became NaN or infinite (on every process).
    """
    from learnres.data import standard_transforms
    from learnres.nn import init
    from learnres.optim import make_schedule

    batch_per_process = _check_config(config, dist)
    run_dir = config.run_dir
    problem = None
    if dist.is_main and (run_dir / CHECKPOINT_NAME).exists():
        problem = (
            f"{run_dir} already holds a training run ({run_dir / CHECKPOINT_NAME}); "
            "choose another --out"
        )
    problem = _broadcast(problem)
    if problem:
        raise CheckpointError(problem)

    train, val, test = _load_data_in_turn(config, dist)
    normalization = None if config.normalization == "none" else config.normalization
    train_tf, test_tf = standard_transforms(
        train, augment=config.augment, normalization=normalization
    )
    loader = ShardedLoader(train, batch_per_process, dist, config.seed, train_tf)
    evals = {name: data for name, data in (("val", val), ("test", test)) if data is not None}

    init.manual_seed(config.seed)  # the same initial weights as `learnres train`
    model = build_model(config.model, train.num_classes, train.image_shape[0], config.shortcut)
    if config.dtype == "float64":
        model.double()
    twin = to_torch(model).to(dist.device)
    names = ([n for n, _ in model.named_parameters()], [n for n, _ in twin.named_parameters()])
    if names[0] != names[1]:  # the momentum buffers are saved by parameter index
        raise RuntimeError("the twin's parameters are not in the learnres model's order")
    ddp = DistributedDataParallel(
        twin, device_ids=[dist.local_rank] if dist.device.type == "cuda" else None
    )

    iterations = resolve_iterations(config, len(loader))
    resolved = config.to_dict()
    resolved["iterations"] = iterations
    for key, value in default_intervals(iterations).items():
        if resolved[key] is None:
            resolved[key] = value
    optimizer = torch.optim.SGD(
        ddp.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )
    schedule = make_schedule(config.schedule, config.lr, iterations, config.milestones)
    steps = getattr(schedule, "after", schedule)  # the warm-up wraps the step schedule
    if getattr(steps, "milestones", None) is not None:
        resolved["milestones"] = list(steps.milestones)
    resolved["scale_out"] = {
        "engine": f"torch {torch.__version__} DistributedDataParallel",
        "processes": dist.world_size,
        "batch_per_process": batch_per_process,
        "backend": dist.backend,
        "batch_norm": "per process (running statistics of process 0)",
        "input": {"num_classes": train.num_classes, "in_channels": train.image_shape[0]},
    }
    run = _Run(config, resolved, dist, model, ddp, optimizer, schedule, loader, evals, test_tf)
    return run.fit()


class _Run:
    """The loop of ``train_ddp`` and its bookkeeping (``learnres.train.Trainer``'s rows)."""

    def __init__(
        self, config, resolved, dist, model, ddp, optimizer, schedule, loader, evals, test_tf
    ):
        self.config, self.resolved, self.dist = config, resolved, dist
        self.model, self.ddp, self.optimizer, self.schedule = model, ddp, optimizer, schedule
        self.loader, self.evals, self.test_tf = loader, evals, test_tf
        self.model_dtype = np.float64 if config.dtype == "float64" else np.float32
        self.iterations = resolved["iterations"]
        self.out = config.run_dir if dist.is_main else None
        self.history = MetricsHistory()
        self.iteration, self.elapsed = 0, 0.0
        self.window = {"steps": 0, "loss_sum": 0.0, "wrong": 0, "seen": 0, "seconds": 0.0}

    def say(self, message: str) -> None:
        if self.out is not None and self.config.progress:
            tqdm.write(message)

    def fit(self) -> ScaleResult:
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(self.resolved, indent=2) + "\n")
        every = {k: self.resolved[k] for k in ("log_every", "eval_every", "checkpoint_every")}
        bar = tqdm(
            total=self.iterations,
            desc=f"ddp x{self.dist.world_size}",
            unit="it",
            dynamic_ncols=True,
            disable=self.out is None or not self.config.progress,
        )
        try:
            while self.iteration < self.iterations:
                tic = time.perf_counter()
                for images, labels in self.loader:
                    lr = self.schedule.apply(self.optimizer, self.iteration)
                    try:
                        loss, wrong, seen = train_step(
                            self.ddp, self.optimizer, images, labels, self.dist
                        )
                    except TrainingDiverged as e:
                        self._write_metrics()
                        raise TrainingDiverged(
                            f"iteration {self.iteration}: {e}", self.iteration, lr, e.loss
                        ) from None
                    self.schedule.observe(self.iteration, wrong / seen)
                    self.iteration += 1
                    toc = time.perf_counter()
                    w = self.window
                    w["steps"] += 1
                    w["loss_sum"] += loss
                    w["wrong"] += wrong
                    w["seen"] += seen
                    w["seconds"] += toc - tic
                    self.elapsed += toc - tic
                    bar.update(1)
                    bar.set_postfix(
                        {"loss": f"{w['loss_sum'] / w['steps']:.3f}", "lr": f"{lr:g}"},
                        refresh=False,
                    )
                    self._after_step(every)
                    if self.iteration >= self.iterations:
                        break
                    tic = time.perf_counter()
        finally:
            bar.close()
        self._finish_window()
        if self.history.last_iteration_of("test_error", "val_error") != self.iteration:
            self._evaluate_all()
        self._save()
        self._write_metrics()
        if self.out is not None and self.config.plot:
            problem = matplotlib_problem()
            if problem:
                self.say(f"no plot written: {problem}")
            else:
                name = self.config.model
                plot_history(
                    {f"{name}, DDP x{self.dist.world_size}": self.history},
                    out=self.out / PLOT_NAME,
                    title=f"{name} on {self.config.dataset}",
                )
        keys = ("train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error")
        final = {k: self.history.last(k) for k in keys if self.history.last(k) is not None}
        checkpoint = self.out / CHECKPOINT_NAME if self.out is not None else None
        return ScaleResult(
            "completed",
            self.iteration,
            self.history,
            final,
            checkpoint,
            self.out,
            self._round_trip_error(),
        )

    def _after_step(self, every) -> None:
        it = self.iteration
        logged = it % every["log_every"] == 0
        if logged:
            self._finish_window()
        evaluated = bool(every["eval_every"]) and it % every["eval_every"] == 0
        if evaluated and it < self.iterations:
            self._evaluate_all()
        if (
            every["checkpoint_every"]
            and it % every["checkpoint_every"] == 0
            and (it < self.iterations)
        ):
            self._save()
        if logged or evaluated:
            self._write_metrics()

    def _finish_window(self) -> None:
        w = self.window
        if w["steps"] == 0:
            return
        self.history.record(
            self.iteration,
            epoch=self.iteration / len(self.loader),
            lr=self.optimizer.param_groups[0]["lr"],
            train_loss=w["loss_sum"] / w["steps"],
            train_error=100.0 * w["wrong"] / w["seen"],
            images_per_s=w["seen"] / max(w["seconds"], 1e-9),
            elapsed_s=self.elapsed,
        )
        self.window = {"steps": 0, "loss_sum": 0.0, "wrong": 0, "seen": 0, "seconds": 0.0}

    def _evaluate_all(self) -> None:
        module = self.ddp.module
        sync_buffers(module, self.dist)
        values = {}
        for name, data in self.evals.items():
            loss, error = evaluate_sharded(
                module, data, self.test_tf, self.dist, self.config.eval_batch_size
            )
            values[f"{name}_loss"], values[f"{name}_error"] = loss, error
        if values:
            self.history.record(self.iteration, **values)
            self.say(evaluation_line(self.iteration, values))

    def _save(self) -> None:
        """Process 0: the twin's weights back into the learnres model, and a checkpoint in
        ``learnres train``'s layout."""
        if self.out is None:
            return
        from_torch(self.model, self.ddp.module)
        state = {
            "iteration": self.iteration,
            "iterations": self.iterations,
            "model": {k: np.asarray(v) for k, v in self.model.state_dict().items()},
            "optimizer": optimizer_state_for_learnres(self.optimizer),
            "schedule": self.schedule.state_dict(),
            "loader": self.loader.state_dict(),
            "window": dict(self.window),
            "history": self.history.state_dict(),
            "elapsed": self.elapsed,
            "config": json.dumps(self.resolved, sort_keys=True),
        }
        save_checkpoint(self.out / CHECKPOINT_NAME, state)

    def _round_trip_error(self, n: int = 32) -> float | None:
        """Process 0: how far the learnres model's logits are from the torch model's."""
        if self.out is None:
            return None
        from learnres.autograd.grad_mode import no_grad
        from learnres.autograd.tensor import Tensor
        from learnres.testing import relative_error

        data = next(iter(self.evals.values()), self.loader.dataset)  # val, test or train
        images = self.test_tf(data.images[:n], None)
        module = self.ddp.module
        module.eval()
        self.model.eval()
        try:
            with torch.no_grad():
                dtype = next(module.parameters()).dtype
                theirs = module(torch.from_numpy(images).to(self.dist.device, dtype=dtype))
            with no_grad():
                ours = self.model(Tensor(images.astype(self.model_dtype, copy=False))).data
        finally:
            module.train()
            self.model.train()
        return relative_error(np.asarray(ours), theirs.cpu().numpy())

    def _write_metrics(self) -> None:
        if self.out is not None:
            self.history.write_csv(self.out / METRICS_NAME)


# ---- the command -------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``learnres train``'s options, and ``--backend``."""
    from learnres.train.cli import add_arguments as train_arguments

    train_arguments(parser)
    parser.description = (
        "Train a learnres model with PyTorch's DistributedDataParallel, one process per\n"
        "GPU (or CPU share), under torchrun:\n\n"
        "  torchrun --standalone --nproc_per_node N -m learnres scale --model resnet110 \\\n"
        "      --device cuda --out runs/resnet110-ddp\n\n"
        "The options and defaults are learnres train's (the paper's recipe); --batch-size is\n"
        "the global batch (each process takes batch/N), BatchNorm normalises over each\n"
        "process's images. Writes metrics.csv, plot.png, config.json and checkpoint.npz\n"
        "(the learnres model's weights) into --out. Without torchrun: one process."
    )
    parser.add_argument(
        "--backend",
        choices=["nccl", "gloo"],
        help="process group (default: nccl with --device cuda, else gloo)",
    )


def main(args: argparse.Namespace) -> int:
    from learnres.data.dataset import DatasetFormatError
    from learnres.data.sources import ChecksumError, DatasetNotFoundError
    from learnres.train.cli import config_from_args

    rank = os.environ.get("RANK", "0")
    prefix = "learnres scale" + (
        f" (process {rank})" if os.environ.get("WORLD_SIZE", "1") != "1" else ""
    )

    def fail(message: str, status: int = 2) -> int:
        print(f"{prefix}: error: {message}", file=sys.stderr)
        return status

    if args.resume:
        return fail("--resume is not supported for DDP runs; start a new run (--out)")
    config = config_from_args(args)
    try:
        dist = init_distributed(config.device, args.backend)
    except (ValueError, RuntimeError) as e:
        return fail(str(e))
    try:
        if dist.is_main:
            print(
                f"training {config.model} on {config.dataset} with DDP: {dist.world_size} "
                f"process(es), {dist.backend}, {dist.device.type}, global batch "
                f"{config.batch_size} -> {config.run_dir}",
                flush=True,
            )
        result = train_ddp(config, dist)
        # every process waits here until process 0 has written the run folder: a process that
        # tore its side of the group down and exited while another still worked was, now and
        # then, aborted by gloo on its way out (SIGABRT, "terminate called without an active
        # exception"), and torchrun then killed the other
        torch_dist.barrier()
    except (
        CheckpointError,
        DatasetNotFoundError,
        ChecksumError,
        DatasetFormatError,
        ValueError,
    ) as e:
        return fail(str(e))
    except TrainingDiverged as e:
        return fail(str(e), status=1)
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
    if dist.is_main:
        final = result.final
        parts = [
            f"{k.replace('_error', '')} error {final[k]:.2f}%"
            for k in ("train_error", "val_error", "test_error")
            if k in final
        ]
        print(f"done: {result.iteration} iterations; " + ", ".join(parts))
        print(
            f"back in learnres: the checkpoint's model gives the torch model's logits to "
            f"{result.round_trip_error:.1e} (relative, eval mode, up to 32 test images)"
        )
        out = result.out_dir
        files = [out / METRICS_NAME, out / CHECKPOINT_NAME, out / "config.json"]
        files += [out / PLOT_NAME] if (out / PLOT_NAME).exists() else []
        print("wrote " + ", ".join(str(f) for f in files))
    return 0


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m learnres.reference.ddp")
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(_main())
