"""The whole training step against PyTorch: ResNet-20 and ResNet-56 at batch 128.

    learnres bench --suite step [--batch-size 128] [--repeats 10] [--threads N] [--quick]

One step is what ``learnres.train.Trainer`` does per iteration: forward, cross-entropy,
``zero_grad``, backward, SGD update (momentum 0.9, weight decay 1e-4). The torch side is the
twin of the same model (``learnres.reference.to_torch``: same weights) with
``torch.optim.SGD``, fed the same batch. The two run in one process, alternating step by
step after a warm-up, so a noisy machine slows both alike; each timed step follows untimed
steps of the same library (50 ms of them, at least one: ``learnres.bench.ops.steady_ms``),
so neither pays for the worker threads the other left spinning. The table gives the median
of each, the ratio of the medians, and images/s = batch / median.

Peak memory: each library trains each model for two steps in a fresh child process;
"peak RSS" is the process's high-water mark (VmHWM) and "step" the part above the memory
held before the first step (model, optimizer, batch), so it is what the activations and
gradients of one step cost. With ``--device cuda`` it is GPU memory instead: the most that
each library's caching allocator held (CuPy's default memory pool, ``total_bytes()``;
torch's ``max_memory_reserved()``), weights included, and "step" the part above what was
held before the first step.

On a GPU both sides compute in true float32: torch's TF32 for cuDNN convolutions and cuBLAS
matrix products is switched off (CuPy does not use TF32 unless ``CUPY_TF32=1``); cuDNN is
on, with its default algorithm choice (``torch.backends.cudnn.benchmark`` off).

    learnres bench --suite step --device cuda --depths 20 56 110

The target (issue 17): within 2.0x torch's step time on the CPU (it was 2.5x).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import numpy as np

from learnres.bench.ops import (
    CLOCKS,
    WARM_MS,
    Row,
    _rss_kib,
    _torch_wait,
    _wait,
    machine_line,
    steady_ms,
)

__all__ = [
    "CSV_FIELDS", "DEPTHS", "add_step_rows", "gpu_line", "memory_probe", "parse_report",
    "read_table", "step_pair", "time_steps", "write_table",
]  # fmt: skip

DEPTHS = (20, 56)
TARGET_RATIO = 2.0  # learnres's step time / torch's


def _true_float32(torch) -> None:
    """No TF32 in torch's cuDNN convolutions and cuBLAS products (CuPy uses none either)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def step_pair(
    depth: int, batch: int, dtype=np.float32, device="cpu", torch_device="cpu", processes=1
):
    """Two zero-argument callables, each one full training step of ResNet-``depth``.

    Both models start from the same weights and see the same random batch (float images
    (batch, 3, 32, 32), labels in 0..9). ``processes`` > 1: learnres's step is
    ``learnres.data_parallel.DataParallel``'s, the batch split over that many processes
    (its workers end when the process does).
    """
    import torch
    import torch.nn.functional as TF

    _true_float32(torch)

    from learnres.autograd import Tensor
    from learnres.backend import to_device
    from learnres.functions.loss import cross_entropy
    from learnres.models import resnet
    from learnres.nn import init
    from learnres.optim import SGD
    from learnres.reference import to_torch

    init.manual_seed(0)
    model = resnet(depth)
    if np.dtype(dtype) == np.float64:
        model.double()
    twin = to_torch(model).to(torch_device)  # same weights, copied before anything trains
    model.to(device)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(dtype)
    y = rng.integers(0, 10, size=batch)
    xs, ys = to_device(x, device), to_device(y, device)
    tx, ty = torch.from_numpy(x).to(torch_device), torch.from_numpy(y).to(torch_device)
    ours_opt = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    theirs_opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    model.train()
    twin.train()

    data_parallel = None
    if processes > 1:
        from learnres.data_parallel import DataParallel

        data_parallel = DataParallel(model, ours_opt, processes)

    def ours():
        if data_parallel is not None:  # the same step, over processes
            data_parallel.step(xs, ys)
            return
        loss = cross_entropy(model(Tensor(xs)), ys)
        ours_opt.zero_grad()
        loss.backward()
        ours_opt.step()
        _wait(model.fc.weight.data)

    def theirs():
        loss = TF.cross_entropy(twin(tx), ty)
        theirs_opt.zero_grad()
        loss.backward()
        theirs_opt.step()
        _torch_wait(twin.fc.weight)

    return ours, theirs


def time_steps(
    depth: int,
    batch: int,
    repeats: int,
    dtype=np.float32,
    device="cpu",
    torch_device="cpu",
    clock="wall",
    processes=1,
) -> Row:
    """Median ms per step of learnres and torch over ``repeats`` alternating steps.

    ``clock="cpu"``: the process's CPU time instead of wall time (meaningful with one thread).
    ``processes``: learnres's step split over that many processes (``step_pair``).
    """
    ours, theirs = step_pair(depth, batch, dtype, device, torch_device, processes)
    for _ in range(2):  # warm-up (torch's first steps set up its kernels), torch first
        theirs()
        ours()
    ours_ms, torch_ms = [], []
    for _ in range(repeats):
        ours_ms.append(steady_ms(ours, CLOCKS[clock]))
        torch_ms.append(steady_ms(theirs, CLOCKS[clock]))
    return Row(
        f"ResNet-{depth} step, batch {batch}",
        statistics.median(ours_ms),
        statistics.median(torch_ms),
        TARGET_RATIO,
    )


def memory_probe(which: str, depth: int, batch: int, threads: int, device: str = "cpu") -> dict:
    """Train ResNet-``depth`` for two steps in *this* process; its RSS in MiB (child only),
    or with ``device="cuda"`` the GPU memory that library's allocator held."""
    import torch

    from learnres.parallel import set_num_threads

    set_num_threads(threads)
    torch.set_num_threads(threads)
    ours, theirs = step_pair(depth, batch, device=device, torch_device=device)
    step = ours if which == "learnres" else theirs
    if device != "cpu":
        return _gpu_memory(which, step, torch)
    try:
        before = _rss_kib(reset_peak=True)["VmRSS"]
    except OSError:  # no /proc: not Linux
        return {"peak_mb": None, "step_mb": None}
    step()
    step()
    peak = _rss_kib()["VmHWM"]
    return {"peak_mb": peak / 1024, "step_mb": (peak - before) / 1024}


def _gpu_memory(which: str, step, torch) -> dict:
    """MiB held by ``which``'s GPU allocator at its peak over two steps, and above the start."""
    if which == "learnres":
        from learnres.backend import gpu_pool_bytes

        before = gpu_pool_bytes()
        step()
        step()
        peak = gpu_pool_bytes()  # the pool only grows: what it holds is its peak
    else:
        torch.cuda.synchronize()
        before = torch.cuda.memory_reserved()
        torch.cuda.reset_peak_memory_stats()
        step()
        step()
        peak = torch.cuda.max_memory_reserved()
    return {"peak_mb": peak / 2**20, "step_mb": (peak - before) / 2**20}


def _memory(which: str, depth: int, batch: int, threads: int, device: str = "cpu") -> dict:
    code = (
        "import json; from learnres.bench.step import memory_probe; "
        f"print(json.dumps(memory_probe({which!r}, {depth}, {batch}, {threads}, {device!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"peak_mb": None, "step_mb": None, "error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


CSV_FIELDS = (
    "model",
    "batch",
    "dtype",
    "device",
    "hardware",
    "repeats",
    "clock",
    "processes",
    "learnres_ms",
    "torch_ms",
    "ratio",
    "learnres_images_per_s",
    "torch_images_per_s",
    "learnres_peak_mb",
    "torch_peak_mb",
    "learnres_step_mb",
    "torch_step_mb",
)


def write_table(rows, path) -> None:
    """The step table as CSV (``CSV_FIELDS``; memory columns empty when not measured),
    written whole or not at all: a temporary file beside ``path``, then renamed."""
    import csv
    import os
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, restval="")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def read_table(path) -> list[dict]:
    """Rows of a table written by ``write_table``, numbers as floats (None when empty)."""
    import csv

    text = {"model", "dtype", "device", "hardware", "clock"}
    with open(path, newline="") as f:
        return [
            {k: (v if k in text else (float(v) if v != "" else None)) for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def parse_report(text: str) -> tuple[list[dict], str]:
    """The rows (as ``write_table`` writes them, less what the report does not print) and
    the hardware line of a report that ``learnres bench --suite step`` printed: a report
    kept as text (a GPU run's log) can be read back as numbers. Raises ValueError when the
    text holds no step table."""
    lines = text.splitlines()
    hardware = next((li for li in lines if li.startswith(("machine: ", "GPU: "))), "")
    rows, memory = [], {}
    for line in lines:
        words = line.split()
        if len(words) >= 6 and words[0].startswith("ResNet-") and words[5].isdigit():
            depth = words[0][len("ResNet-") :]
            rows.append(
                {
                    "model": f"resnet{depth}",
                    "hardware": hardware,
                    "learnres_ms": float(words[1]),
                    "torch_ms": float(words[2]),
                    "ratio": float(words[3]),
                    "learnres_images_per_s": float(words[4]),
                    "torch_images_per_s": float(words[5]),
                }
            )
        elif (
            len(words) == 4 and words[0].startswith("ResNet-") and words[1] in ("learnres", "torch")
        ):
            peak, step = (None if w == "n/a" else float(w) for w in words[2:])
            memory[(f"resnet{words[0][len('ResNet-') :]}", words[1])] = (peak, step)
    if not rows:
        raise ValueError("no `learnres bench --suite step` table in this text")
    for row in rows:
        for which in ("learnres", "torch"):
            peak, step = memory.get((row["model"], which), (None, None))
            row[f"{which}_peak_mb"], row[f"{which}_step_mb"] = peak, step
    return rows, hardware


def gpu_line(torch) -> str:
    """The GPU, its driver's CUDA, CuPy's and torch's versions, and cuDNN's settings."""
    from learnres.backend import gpu_report

    report = gpu_report()
    return (
        f"GPU: {torch.cuda.get_device_name()}; CuPy {report.get('cupy')}, torch "
        f"{torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
        f"{torch.backends.cudnn.version()}, enabled {torch.backends.cudnn.enabled}, "
        f"benchmark {torch.backends.cudnn.benchmark}, TF32 off)"
    )


def add_step_rows(args) -> list:
    """The ``--suite step`` part of ``learnres bench``: prints its report, returns []."""
    import torch

    from learnres.parallel import get_num_threads, set_num_threads, usable_cores

    processes = getattr(args, "processes", None) or 1
    if processes > 1 and (args.device != "cpu" or args.clock != "wall"):
        print("learnres bench --suite step: --processes is for the CPU, with the wall clock")
        return []
    if args.threads:
        set_num_threads(args.threads)
    threads = get_num_threads()
    torch.set_num_threads(threads)
    torch_device = args.device
    if args.device == "cuda" and not torch.cuda.is_available():
        print("learnres bench --suite step: torch has no CUDA here; cannot compare on cuda")
        return []
    dtype = np.dtype(args.dtype)
    repeats = 2 if args.quick and args.repeats is None else (args.repeats or 10)
    batch = args.batch_size
    print(
        f"learnres bench --suite step: forward + loss + backward + SGD (momentum 0.9, weight "
        f"decay 1e-4),\nbatch {batch}, {dtype.name}, device {args.device}, {repeats} steps "
        f"each, alternating,\neach timed after {WARM_MS} ms (one step or more) of untimed steps "
        f"of its own (median {args.clock} ms; ratio = learnres / torch)"
    )
    if processes > 1:
        print(
            f"learnres: {processes} processes (learnres.data_parallel), each with "
            f"{max(1, usable_cores() // processes)} thread(s); torch: "
            f"{torch.get_num_threads()} threads"
        )
    else:
        print(f"threads: learnres {threads}, torch {torch.get_num_threads()}")
    hardware = machine_line(threads) if args.device == "cpu" else gpu_line(torch)
    print(hardware)
    print()
    print(
        f"{'model':<11} {'learnres ms':>11} {'torch ms':>9} {'ratio':>6} "
        f"{'learnres img/s':>14} {'torch img/s':>11}  target"
    )
    rows, table = [], {}
    depths = tuple(getattr(args, "depths", None) or DEPTHS)
    for depth in depths:
        row = time_steps(
            depth, batch, repeats, dtype, args.device, torch_device, args.clock, processes
        )
        rows.append(row)
        table[depth] = {
            "model": f"resnet{depth}",
            "batch": batch,
            "dtype": dtype.name,
            "device": args.device,
            "hardware": hardware,
            "repeats": repeats,
            "clock": args.clock,
            "processes": processes,
            "learnres_ms": row.ours_ms,
            "torch_ms": row.torch_ms,
            "ratio": row.ratio,
            "learnres_images_per_s": batch / row.ours_ms * 1e3,
            "torch_images_per_s": batch / row.torch_ms * 1e3,
        }
        print(
            f"{'ResNet-' + str(depth):<11} {row.ours_ms:>11.1f} {row.torch_ms:>9.1f} "
            f"{row.ratio:>6.2f} {batch / row.ours_ms * 1e3:>14.0f} "
            f"{batch / row.torch_ms * 1e3:>11.0f}  <= {TARGET_RATIO:g} {row.status}",
            flush=True,
        )
    if args.memory and dtype == np.float32 and processes > 1:
        print("\npeak memory: not measured with --processes (one process's RSS is not the sum)")
    elif args.memory and dtype == np.float32:
        what = "peak RSS" if args.device == "cpu" else "peak GPU"
        print(
            f"\npeak memory, two training steps in a fresh process (MiB; {what}: "
            + (
                "the process's high-water mark)"
                if args.device == "cpu"
                else "the most the allocator's pool held, weights included)"
            )
        )
        print(f"{'model':<11} {'library':<9} {what:>9} {'step':>7}")
        for depth in depths:
            for which in ("learnres", "torch"):
                m = _memory(which, depth, batch, threads, args.device)
                peak = "n/a" if m["peak_mb"] is None else f"{m['peak_mb']:.0f}"
                step = "n/a" if m["step_mb"] is None else f"{m['step_mb']:.0f}"
                print(f"{'ResNet-' + str(depth):<11} {which:<9} {peak:>9} {step:>7}")
                table[depth][f"{which}_peak_mb"] = m["peak_mb"]
                table[depth][f"{which}_step_mb"] = m["step_mb"]
                if "error" in m:
                    print(f"    ({m['error']})")
    if getattr(args, "csv", None):
        write_table(table.values(), args.csv)
        print(f"\nwritten: {args.csv}")
    missed = [r.name for r in rows if r.status == "MISS"]
    print(
        f"\n{len(rows) - len(missed)}/{len(rows)} models within {TARGET_RATIO}x torch"
        + (f"; missed: {', '.join(missed)}" if missed else "")
    )
    return []
