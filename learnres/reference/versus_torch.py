"""The same training run in learnres and in PyTorch, side by side.

Both start from the same weights (the torch model is ``learnres.reference.to_torch`` of the
learnres one), see the same batches with the same augmentation draws (two ``DataLoader``s
built with the same seed give identical streams), and follow the same recipe (torch's own
``torch.optim.SGD`` and ``MultiStepLR`` / ``CosineAnnealingLR`` on the torch side). In
float64 the two loss trajectories agree to ~1e-10 for dozens of steps; in float32 they
drift apart slowly, as any two implementations do, and the fair comparison is the final
test accuracy of runs with the same seeds.

    python -m learnres.reference.versus_torch --model resnet20 --data-dir ../shared/datasets \\
        --iterations 500 --seeds 0 1 2 --out runs/versus-torch

trains both, writes ``<out>/learnres`` and ``<out>/torch`` run folders (metrics.csv; view
them together with ``learnres plot <out>/learnres <out>/torch``) and prints both test
accuracies. Needs PyTorch (the ``reference`` extra). ``python -m learnres.train.versus_torch``,
its name before it moved here (what the stored runs' command.txt files say), runs it too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from learnres.optim import CosineSchedule, StepSchedule, WarmupSchedule
from learnres.parallel import get_num_threads
from learnres.reference.convert import to_torch
from learnres.train.metrics import MetricsHistory
from learnres.train.run import TrainConfig, build_data, build_trainer

__all__ = ["batch_to_torch", "compare_on_dataset", "main", "torch_evaluate", "train_torch_twin"]


def batch_to_torch(images, labels, dtype, device):
    """A learnres batch as torch tensors of ``dtype`` on ``device``.

    On the CPU the NumPy arrays are wrapped; on a GPU a loader with ``device="cuda"`` gives
    CuPy arrays, which torch reads in place through the CUDA array interface and then
    copies (the loader may reuse its buffers for the next batch).
    """
    if device.type == "cpu":
        return torch.from_numpy(np.asarray(images)).to(dtype), torch.from_numpy(np.asarray(labels))
    x = torch.as_tensor(images, device=device).to(dtype).clone()
    return x, torch.as_tensor(labels, device=device).long().clone()


def torch_evaluate(twin, loader) -> tuple[float, float]:
    """Mean cross-entropy and error (percent) of a torch model over one pass of ``loader``."""
    first = next(twin.parameters())
    twin.eval()
    loss_sum, wrong, seen = 0.0, 0, 0
    with torch.no_grad():
        for images, labels in loader:
            x, y = batch_to_torch(images, labels, first.dtype, first.device)
            logits = twin(x)
            loss_sum += float(torch.nn.functional.cross_entropy(logits, y)) * len(y)
            wrong += int((logits.argmax(1) != y).sum())
            seen += len(y)
    twin.train()
    return loss_sum / seen, 100.0 * wrong / seen


def _torch_scheduler(optimizer, schedule):
    """torch's own scheduler for a learnres schedule (an independent implementation)."""
    if isinstance(schedule, StepSchedule):
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(schedule.milestones), gamma=schedule.gamma
        )
    if isinstance(schedule, CosineSchedule):
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=schedule.total, eta_min=schedule.min_lr
        )
    return None  # the warm-up depends on the training error: use the learnres schedule


def train_torch_twin(
    twin,
    loader,
    iterations: int,
    schedule,
    *,
    momentum: float,
    weight_decay: float,
    nesterov: bool = False,
    log_every: int = 1,
    eval_loaders: dict | None = None,
    eval_every: int | None = None,
    progress: bool = False,
) -> MetricsHistory:
    """Train a torch model the way ``Trainer`` trains a learnres one; return its history.

    Arguments:
        twin: the torch model (e.g. ``to_torch(model)`` before the learnres run trains).
        loader: a ``DataLoader`` giving the same batches as the learnres run's.
        iterations: steps.
        schedule: the learnres schedule of the run; "paper" and "cosine" become torch's
            ``MultiStepLR`` / ``CosineAnnealingLR``, the warm-up is asked step by step.
        momentum, weight_decay, nesterov: ``torch.optim.SGD``'s.
        log_every, eval_loaders, eval_every: as ``Trainer``'s (same rows in the history).
    """
    first = next(twin.parameters())
    lr0 = schedule.lr(0)
    optimizer = torch.optim.SGD(
        twin.parameters(), lr=lr0, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov
    )
    scheduler = _torch_scheduler(optimizer, schedule)
    history = MetricsHistory()
    window = {"steps": 0, "loss": 0.0, "wrong": 0, "seen": 0, "seconds": 0.0}
    twin.train()
    it = 0
    bar = tqdm(total=iterations, desc="torch", unit="it", disable=not progress)
    while it < iterations:
        for images, labels in loader:
            tic = time.perf_counter()
            if scheduler is None:
                for group in optimizer.param_groups:
                    group["lr"] = schedule.lr(it)
            x, y = batch_to_torch(images, labels, first.dtype, first.device)
            logits = twin(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            wrong = int((logits.argmax(1) != y).sum())
            if scheduler is None:
                schedule.observe(it, wrong / len(y))
            it += 1
            window["steps"] += 1
            window["loss"] += loss.item()
            window["wrong"] += wrong
            window["seen"] += len(y)
            window["seconds"] += time.perf_counter() - tic
            bar.update(1)
            if it % log_every == 0 or it == iterations:
                history.record(
                    it,
                    lr=lr,
                    train_loss=window["loss"] / window["steps"],
                    train_error=100.0 * window["wrong"] / window["seen"],
                    images_per_s=window["seen"] / max(window["seconds"], 1e-9),
                )
                window = {"steps": 0, "loss": 0.0, "wrong": 0, "seen": 0, "seconds": 0.0}
            if eval_loaders and ((eval_every and it % eval_every == 0) or it == iterations):
                values = {}
                for name, eval_loader in eval_loaders.items():
                    loss_, error = torch_evaluate(twin, eval_loader)
                    values[f"{name}_loss"], values[f"{name}_error"] = loss_, error
                history.record(it, **values)
            if it >= iterations:
                break
    bar.close()
    return history


def compare_on_dataset(config: TrainConfig, progress: bool = True) -> dict:
    """Train ``config`` in learnres and in PyTorch from the same start; return both results.

    Writes ``<config.out>/learnres`` (a normal run folder) and ``<config.out>/torch``
    (metrics.csv). Returns ``{"learnres": final metrics, "torch": final metrics,
    "seconds": {...}, "iterations": n}`` with errors in percent.
    """
    out = config.run_dir
    ours = dataclasses.replace(config, out=str(out / "learnres"), progress=progress)
    trainer = build_trainer(ours)
    twin = to_torch(trainer.model)  # the same initial weights, copied before training
    twin = twin.to(ours.device)  # both sides on one device: "cpu", or "cuda" (cuDNN's default)
    data = build_data(ours)  # a second, identical stream of batches for torch
    resolved = trainer.config
    tic = time.perf_counter()
    result = trainer.fit()
    seconds_ours = time.perf_counter() - tic
    tic = time.perf_counter()
    history = train_torch_twin(
        twin,
        data.train_loader,
        trainer.iterations,
        type(trainer.schedule)(**_schedule_args(trainer.schedule)),
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
        log_every=resolved["log_every"],
        eval_loaders=data.eval_loaders,
        eval_every=resolved["eval_every"],
        progress=progress,
    )
    seconds_torch = time.perf_counter() - tic
    (out / "torch").mkdir(parents=True, exist_ok=True)
    history.write_csv(out / "torch" / "metrics.csv")
    keys = ("train_error", "val_error", "test_error", "test_loss")
    theirs = {k: history.last(k) for k in keys if history.last(k) is not None}
    return {
        "learnres": result.final,
        "torch": theirs,
        "seconds": {"learnres": seconds_ours, "torch": seconds_torch},
        "iterations": trainer.iterations,
    }


def _schedule_args(schedule) -> dict:
    """Constructor arguments of a fresh copy of ``schedule`` (its state at iteration 0)."""
    if isinstance(schedule, StepSchedule):
        return {
            "base_lr": schedule.base_lr,
            "milestones": schedule.milestones,
            "gamma": schedule.gamma,
        }
    if isinstance(schedule, CosineSchedule):
        return {"base_lr": schedule.base_lr, "total": schedule.total, "min_lr": schedule.min_lr}
    if isinstance(schedule, WarmupSchedule):
        after = type(schedule.after)(**_schedule_args(schedule.after))
        return {
            "after": after,
            "warmup_lr": schedule.warmup_lr,
            "threshold": schedule.threshold,
            "window": schedule.window,
        }
    raise TypeError(f"cannot copy a {type(schedule).__name__}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learnres.reference.versus_torch",
        description="Train the same model, data and recipe in learnres and in PyTorch "
        "(same initial weights, batches, augmentation) and compare test accuracies. With "
        "several --seeds, each seed is one pair of runs and the mean gap is reported.",
    )
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir")
    parser.add_argument("--iterations", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--schedule", default="paper", choices=["paper", "warmup", "cosine"])
    parser.add_argument("--subset", type=int)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument(
        "--device", default="cpu", help="cpu (default), or cuda: learnres on CuPy, torch on CUDA"
    )
    parser.add_argument("--out", default="runs/versus-torch")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    torch.set_num_threads(get_num_threads())  # as learnres bench does
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} is not empty; choose another --out", file=sys.stderr)
        return 2
    rows = []
    for seed in args.seeds:
        config = TrainConfig(
            model=args.model,
            dataset=args.dataset,
            data_dir=args.data_dir,
            iterations=args.iterations,
            batch_size=args.batch_size,
            lr=args.lr,
            schedule=args.schedule,
            subset=args.subset,
            seed=seed,
            dtype=args.dtype,
            device=args.device,
            plot=False,
            out=str(out / f"seed{seed}" if len(args.seeds) > 1 else out),
        )
        r = compare_on_dataset(config, progress=args.progress)
        rows.append((seed, r))
    print(
        f"{args.model} on {args.dataset}, {rows[0][1]['iterations']} iterations, batch "
        f"{args.batch_size}, {args.dtype}, {args.device}; test acc. (%), seconds"
    )
    print(f"{'seed':>4} {'learnres':>9} {'torch':>7} {'gap':>6} {'learnres s':>11} {'torch s':>8}")
    gaps = []
    for seed, r in rows:
        ours = 100 - r["learnres"]["test_error"]
        theirs = 100 - r["torch"]["test_error"]
        gaps.append(ours - theirs)
        print(
            f"{seed:>4} {ours:>9.2f} {theirs:>7.2f} {ours - theirs:>+6.2f} "
            f"{r['seconds']['learnres']:>11.0f} {r['seconds']['torch']:>8.0f}"
        )
    if len(rows) > 1:
        mean_ours = np.mean([100 - r["learnres"]["test_error"] for _, r in rows])
        mean_theirs = np.mean([100 - r["torch"]["test_error"] for _, r in rows])
        print(f"mean {mean_ours:>9.2f} {mean_theirs:>7.2f} {np.mean(gaps):>+6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
