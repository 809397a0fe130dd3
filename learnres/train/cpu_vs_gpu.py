"""The first steps of one training run on the CPU (NumPy) and on a GPU (CuPy), side by side.

Two trainers are built from one configuration that differs only in ``device``: the same seed
gives the same initial weights (checked before the first step), and both take the same
batches (the CPU trainer's loader draws them, augmentation included; the GPU trainer is
handed copies). After each SGD step it records both losses, the relative difference of all
the weights together (||cpu - gpu|| / ||cpu||) and the tensor that differs most:

    python -m learnres.train.cpu_vs_gpu --model resnet56 --data-dir ../shared/datasets \\
        --steps 5 --out cpu-vs-gpu.csv

What to expect in float32: NumPy's BLAS and cuBLAS (and the reductions of batch norm) add in
different orders, so the two runs differ by rounding, ~1e-7 relative, from the first
forward pass on, and each step of SGD carries those differences into the next. A few steps
should agree to ~1e-5 in the loss; bit-for-bit agreement is not expected and a difference of
order 1e-2 is a bug. ``--dtype float64`` makes the rounding ~1e-16.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path

import numpy as np

from learnres.backend import asnumpy, to_device
from learnres.train.run import TrainConfig, build_trainer

__all__ = ["FIELDS", "compare_first_steps", "main"]

FIELDS = (
    "step",
    "loss_cpu",
    "loss_gpu",
    "loss_rel_diff",
    "param_rel_diff",
    "worst_tensor",
    "worst_tensor_rel_diff",
)


def _differences(cpu_model, gpu_model) -> tuple[float, dict[str, float]]:
    """||a - b|| / ||a|| over all parameters and buffers together, and per tensor by name.

    Norm-wise, since a tensor near zero (a BN bias after a step or two) makes element-wise
    relative differences meaningless: its entries are sums that nearly cancel.
    """
    gpu_state = gpu_model.state_dict()
    per_tensor, diff_sq, norm_sq = {}, 0.0, 0.0
    for name, a in cpu_model.state_dict().items():
        a = np.asarray(a, dtype=np.float64)
        b = asnumpy(gpu_state[name]).astype(np.float64)
        d, n = float(np.sum((a - b) ** 2)), float(np.sum(a**2))
        diff_sq, norm_sq = diff_sq + d, norm_sq + n
        per_tensor[name] = (d / n) ** 0.5 if n > 0 else d**0.5
    return (diff_sq / norm_sq) ** 0.5 if norm_sq > 0 else diff_sq**0.5, per_tensor


def compare_first_steps(config: TrainConfig, steps: int = 5, gpu: str = "cuda") -> list[dict]:
    """Train ``config`` for ``steps`` steps on the CPU and on ``gpu`` from the same start.

    Returns one row per step (``FIELDS``); row 0 is the start (no step yet, losses empty).
    Raises RuntimeError if the two initial states differ.
    """
    cpu_config = dataclasses.replace(
        config, device="cpu", prefetch=False, progress=False, plot=False
    )
    cpu = build_trainer(cpu_config)
    gpu_trainer = build_trainer(dataclasses.replace(cpu_config, device=gpu))
    start, _ = _differences(cpu.model, gpu_trainer.model)
    if start != 0.0:
        raise RuntimeError(f"the CPU and GPU models start from different weights ({start:.1e})")
    rows = [
        {
            "step": 0,
            "loss_cpu": "",
            "loss_gpu": "",
            "loss_rel_diff": "",
            "param_rel_diff": 0.0,
            "worst_tensor": "",
            "worst_tensor_rel_diff": 0.0,
        }
    ]
    batches = iter(cpu.train_loader)
    for step in range(1, steps + 1):
        images, labels = next(batches)  # NumPy (B, C, H, W), (B,)
        loss_cpu, _ = cpu.train_step(images, labels)
        loss_gpu, _ = gpu_trainer.train_step(to_device(images, gpu), to_device(labels, gpu))
        cpu.iteration = gpu_trainer.iteration = step  # the schedule reads the iteration
        loss_cpu, loss_gpu = float(loss_cpu), float(asnumpy(loss_gpu))
        whole, per_tensor = _differences(cpu.model, gpu_trainer.model)
        worst = max(per_tensor, key=per_tensor.get)
        rows.append(
            {
                "step": step,
                "loss_cpu": loss_cpu,
                "loss_gpu": loss_gpu,
                "loss_rel_diff": abs(loss_cpu - loss_gpu) / abs(loss_cpu),
                "param_rel_diff": whole,
                "worst_tensor": worst,
                "worst_tensor_rel_diff": per_tensor[worst],
            }
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learnres.train.cpu_vs_gpu",
        description="The first SGD steps of a run on the CPU and on a GPU, from the same "
        "weights and batches; prints and writes the loss and parameter differences.",
    )
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--gpu", default="cuda", help="the GPU device (default: cuda)")
    parser.add_argument("--out", help="write the rows to this CSV file")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    config = TrainConfig(
        model=args.model,
        dataset=args.dataset,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        seed=args.seed,
        dtype=args.dtype,
        iterations=max(args.steps, 1),
        out=None,
    )
    try:
        rows = compare_first_steps(config, args.steps, args.gpu)
    except ValueError as e:  # a device that is not usable here, a bad option
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{args.model}, batch {args.batch_size}, {args.dtype}, seed {args.seed}: CPU (NumPy) "
        f"vs {args.gpu} (CuPy), same weights and batches"
    )
    print(
        f"{'step':>4} {'loss cpu':>10} {'loss gpu':>10} {'loss rel':>9} {'params rel':>10}  "
        f"worst tensor"
    )
    for r in rows[1:]:
        print(
            f"{r['step']:>4} {r['loss_cpu']:>10.6f} {r['loss_gpu']:>10.6f} "
            f"{r['loss_rel_diff']:>9.1e} {r['param_rel_diff']:>10.1e}  "
            f"{r['worst_tensor']} ({r['worst_tensor_rel_diff']:.1e})"
        )
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
