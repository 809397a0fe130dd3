"""What a run of ``tools/gpu_check.sh`` on a real GPU stored, read back for chapter 6.

The script's results are kept small in the repository:

    chapters/runs/gpu-check/bench-step.txt        learnres bench --suite step --device cuda
    chapters/runs/gpu-check/cpu-vs-gpu-*.csv      python -m learnres.train.cpu_vs_gpu
    chapters/runs/gpu-check/fp32-check.txt        tools/gpu_fp32_check.py
    chapters/runs/gpu-check/pytest-gpu.txt        the CuPy leg of the tests on real CuPy
    chapters/runs/gpu-check/machine.txt, command.txt, summary.txt
    chapters/runs/<model>-cuda-seed0/             the training runs (as any stored run)

Every function returns None (or leaves a model out) when its file is absent, so a chapter
says what is missing instead of failing; every number it prints is read from these files.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from learnres.lectures.config import runs_dir
from learnres.lectures.runs import stored_run

__all__ = [
    "GPU_CHECK",
    "cpu_gpu_markdown",
    "cpu_gpu_runs",
    "cuda_leg_result",
    "first_steps",
    "first_steps_markdown",
    "fp32_errors",
    "gpu_check_dir",
    "step_table",
    "step_table_markdown",
]

GPU_CHECK = "gpu-check"


def gpu_check_dir(root=None) -> Path:
    return (Path(root) if root is not None else runs_dir()) / GPU_CHECK


def step_table(root=None) -> tuple[list[dict], str] | None:
    """``(rows, hardware line)`` of the stored GPU step benchmark, or None."""
    from learnres.bench.step import parse_report

    path = gpu_check_dir(root) / "bench-step.txt"
    return parse_report(path.read_text()) if path.is_file() else None


def step_table_markdown(rows) -> str:
    """The step benchmark as a Markdown table: ms, images/s and peak GPU memory of each
    library, and learnres's factors (time and memory) against PyTorch."""

    def mb(v):
        return "n/a" if v is None else f"{v:,.0f}"

    lines = [
        "| model | learnres ms | PyTorch ms | time ratio | learnres img/s | "
        "PyTorch img/s | learnres MiB | PyTorch MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| ResNet-{r['model'][6:]} | {r['learnres_ms']:.1f} | {r['torch_ms']:.1f} | "
            f"{r['ratio']:.2f}x | {r['learnres_images_per_s']:,.0f} | "
            f"{r['torch_images_per_s']:,.0f} | {mb(r['learnres_peak_mb'])} | "
            f"{mb(r['torch_peak_mb'])} |"
        )
    return "\n".join(lines)


def cuda_leg_result(root=None) -> str | None:
    """pytest's closing line of the CuPy leg run on the GPU ("719 passed, ... in 65.01s")."""
    path = gpu_check_dir(root) / "pytest-gpu.txt"
    if not path.is_file():
        return None
    finals = [
        li.strip("= ")
        for li in path.read_text().splitlines()
        if re.search(r"\d+ (passed|failed)", li)
    ]
    return finals[-1] if finals else None


def fp32_errors(root=None) -> dict | None:
    """``{op: (error on the GPU, error of NumPy float32)}`` from ``fp32-check.txt``
    (``tools/gpu_fp32_check.py``: max |float32 - float64| / max |float64|), or None."""
    path = gpu_check_dir(root) / "fp32-check.txt"
    if not path.is_file():
        return None
    errors = {}
    for line in path.read_text().splitlines():
        m = re.fullmatch(r"(.+?)\s+([0-9.]+e[-+]\d+)\s+([0-9.]+e[-+]\d+)\s*", line)
        if m:
            errors[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return errors


def first_steps(dtype: str = "float32", root=None) -> list[dict] | None:
    """The rows of ``cpu-vs-gpu-<dtype>.csv`` after the start (numbers as floats), or None."""
    path = gpu_check_dir(root) / f"cpu-vs-gpu-{dtype}.csv"
    if not path.is_file():
        return None
    rows = []
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            if r["step"] == "0":
                continue
            rows.append({k: (v if k == "worst_tensor" else float(v)) for k, v in r.items()})
    return rows


def first_steps_markdown(rows) -> str:
    lines = [
        "| step | loss, CPU | loss, GPU | loss rel. diff. | weights rel. diff. | "
        "most different tensor |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {int(r['step'])} | {r['loss_cpu']:.6f} | {r['loss_gpu']:.6f} | "
            f"{r['loss_rel_diff']:.1e} | {r['param_rel_diff']:.1e} | "
            f"`{r['worst_tensor']}` ({r['worst_tensor_rel_diff']:.1e}) |"
        )
    return "\n".join(lines)


def cpu_gpu_runs(models, seed: int = 0, root=None) -> dict:
    """``{model: (CPU run, GPU run)}`` for the models with both ``<model>-seed<k>`` and
    ``<model>-cuda-seed<k>`` stored."""
    pairs = {}
    for model in models:
        cpu = stored_run(f"{model}-seed{seed}", root)
        gpu = stored_run(f"{model}-cuda-seed{seed}", root)
        if cpu is not None and gpu is not None:
            pairs[model] = (cpu, gpu)
    return pairs


def _speed(run) -> tuple[float, float]:
    """(minutes of training, median images/s over the logged windows) of a stored run."""
    import numpy as np

    _, seconds = run.history.column("elapsed_s")
    _, speed = run.history.column("images_per_s")
    return (
        seconds[-1] / 60 if seconds else float("nan"),
        float(np.median(speed)) if speed else float("nan"),
    )


def cpu_gpu_markdown(pairs: dict) -> str:
    """One row per run: device, iterations, final training and test error, time, speed."""
    from learnres.lectures.paper import final_error, model_label

    lines = [
        "| model | device | iterations | final train error | final test error | "
        "minutes | images/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for model, runs in pairs.items():
        for run in runs:
            device = run.config.get("device", "cpu")
            minutes, speed = _speed(run)
            lines.append(
                f"| {model_label(model)} | {'GPU' if device.startswith('cuda') else 'CPU'} | "
                f"{run.iterations:,} | {final_error(run):.1f}% | "
                f"{final_error(run, 'test_error'):.1f}% | {minutes:.1f} | {speed:,.0f} |"
            )
    return "\n".join(lines)
