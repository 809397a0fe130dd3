"""The chapters' fresh experiments: data, a short training run, a timer.

Everything here is glue over learnres's own parts (``learnres.data``, ``learnres.optim``,
``learnres.train.Trainer``), sized by ``learnres.lectures.sizes()``; a fresh run is the
paper's recipe (SGD with momentum 0.9, weight decay 1e-4, lr divided by 10 at 1/2 and 3/4
of the run, per-pixel mean, pad + crop + flip), only shorter and on fewer images.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from learnres.data import DataLoader, load_dataset, standard_transforms, subset
from learnres.lectures.config import Sizes, data_dir, repo_root, sizes
from learnres.optim import SGD, make_schedule
from learnres.train import MetricsHistory, Trainer

__all__ = ["CifarData", "batch", "load_cifar10", "run_torchrun", "time_call", "train_fresh"]


@dataclass
class CifarData:
    """The CIFAR-10 images a chapter trains and tests on, with the paper's transforms."""

    train: object  # learnres.data.Dataset
    test: object
    train_transform: object
    test_transform: object

    def __repr__(self) -> str:
        return f"CifarData(train={self.train!r}, test={self.test!r})"


def load_cifar10(S: Sizes | None = None, seed: int = 0) -> CifarData:
    """CIFAR-10 from ``data_dir()`` (the 5,085 / 1,017-image subset beside the repository),
    cut to ``S.train_images`` / ``S.test_images`` (class-balanced), with the paper's
    transforms (per-pixel mean of the training images; pad 4, random crop, flip)."""
    S = S or sizes()
    root = data_dir()
    train = load_dataset("cifar10", "train", root)
    test = load_dataset("cifar10", "test", root)
    if S.train_images is not None and S.train_images < len(train):
        train = subset(train, S.train_images, seed=seed)
    if S.test_images is not None and S.test_images < len(test):
        test = subset(test, S.test_images, seed=seed)
    train_tf, test_tf = standard_transforms(train)
    return CifarData(train, test, train_tf, test_tf)


def batch(data: CifarData, n: int, split: str = "train", seed: int = 0):
    """``n`` images of ``split`` through the test transform (no augmentation), as
    (float32 (n, 3, 32, 32), int64 (n,)): a fixed batch for measurements."""
    ds = data.train if split == "train" else data.test
    idx = np.random.default_rng(seed).choice(len(ds), size=min(n, len(ds)), replace=False)
    return data.test_transform(ds.images[idx]), ds.labels[idx]


def train_fresh(
    model,
    data: CifarData,
    *,
    iterations: int | None = None,
    lr: float = 0.1,
    batch_size: int | None = None,
    S: Sizes | None = None,
    seed: int = 0,
    desc: str = "train",
    callbacks=(),
    eval_every: int | None = None,
) -> MetricsHistory:
    """Train ``model`` for a fresh (short) run and return its ``MetricsHistory``.

    The paper's recipe (section 3.4 / 4.2): SGD, momentum 0.9, weight decay 1e-4, lr divided
    by 10 at 1/2 and 3/4 of the run; batches of ``batch_size`` (default ``S.batch_size``)
    drawn from ``data.train`` with augmentation; test error on ``data.test`` every
    ``eval_every`` steps (default ``S.eval_every``) and at the end. A tqdm progress bar
    (a widget in a notebook) shows the run; nothing is written to disk.
    """
    S = S or sizes()
    iterations = iterations or S.iterations
    batch_size = batch_size or S.batch_size
    loader = DataLoader.from_dataset(
        data.train,
        batch_size,
        shuffle=True,
        drop_last=True,
        seed=seed,
        transform=data.train_transform,
        prefetch=False,
    )
    test_loader = DataLoader.from_dataset(
        data.test, 250, shuffle=False, transform=data.test_transform, prefetch=False
    )
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    schedule = make_schedule("paper", lr, iterations)
    trainer = Trainer(
        model,
        optimizer,
        schedule,
        loader,
        iterations,
        eval_loaders={"test": test_loader},
        log_every=min(S.log_every, iterations),
        eval_every=eval_every or S.eval_every,
        callbacks=callbacks,
        progress=True,
        plot=False,
        config={"model": desc},
    )
    return trainer.fit().history


def time_call(fn, repeats: int = 3, warmup: int = 1) -> float:
    """The median wall time of ``fn()`` in seconds over ``repeats`` calls (after ``warmup``)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return float(np.median(times))


# a worker's line in torchrun's failure summary: "exitcode  : -6 (pid: 18779)"
_EXITCODE = re.compile(r"exitcode\s*:\s*(-?\d+)")


def run_torchrun(
    command: list[str], timeout: float = 1800
) -> tuple[subprocess.CompletedProcess, Path]:
    """Run ``command`` (``["torchrun", ..., "--out", OUT]``) as ``python -m
    torch.distributed.run ...``, with this learnres first on PYTHONPATH and Python's fault
    handler on (a process that crashes prints every thread's stack to stderr).

    torch's gloo backend has, now and then on a busy machine, aborted one process
    (SIGABRT, "terminate called without an active exception", no Python traceback): a
    process that had left the group and was exiting while process 0 still wrote the run
    folder. ``learnres scale`` now waits for all its processes first (on a loaded 2-core
    machine: 5 aborts in 14 runs before, none in 10 after). Should it happen still: when
    every failed process was killed by a signal, the command runs once more into
    ``OUT-retry`` and the first attempt's failure is printed above its output; any other
    failure, or a second one, raises RuntimeError with the end of stderr. Returns the
    successful run and the folder it wrote.
    """
    at = command.index("--out") + 1  # where OUT is
    out, args = Path(command[at]), list(command)
    path = os.pathsep.join([str(repo_root()), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONFAULTHANDLER": "1"}
    for attempt in (1, 2):
        args[at] = str(out)
        done = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", *args[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode == 0:
            return done, out
        codes = sorted({int(c) for c in _EXITCODE.findall(done.stderr)})
        if attempt == 2 or not codes or any(c >= 0 for c in codes):
            raise RuntimeError(f"{' '.join(command[:6])} ... failed:\n{done.stderr[-3000:]}")
        print(
            f"first attempt: a process was killed by a signal (exit codes {codes}); "
            f"running again into {out.name}-retry. The end of its stderr:\n" + done.stderr[-1500:]
        )
        out = out.with_name(out.name + "-retry")
