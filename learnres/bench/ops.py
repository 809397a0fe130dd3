"""Layer-primitive timings against PyTorch: every ResNet-20 convolution, batch norm, ReLU.

    learnres bench --suite ops [--batch-size 128] [--repeats 20] [--quick]

Each case is a forward *and* backward pass, float32 by default. learnres and torch run in
one process, alternating (torch warms up first; then each repeat times learnres, then
torch, each run timed after 50 ms of untimed runs of its own: ``steady_ms``), so that a
noisy machine slows both alike and neither pays for the other's idle threads; a row
reports the median of each and the ratio of the medians. learnres runs the ops as its
layers do, scheduled by ``learnres.parallel`` (chunks of images or groups of channels in
threads); torch is told to use as many threads (``learnres.parallel.get_num_threads``).

The target (from the issue "as fast as NumPy allows"): every row within 2.5x torch.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from learnres import functions as F
from learnres import parallel
from learnres.autograd import Tensor
from learnres.backend import asnumpy, to_device
from learnres.parallel import get_num_threads, set_num_threads

__all__ = [
    "TARGET_RATIO",
    "Row",
    "Case",
    "cases",
    "time_case",
    "op_rows",
    "memory_rows",
    "print_table",
    "blas_kernels",
    "machine_line",
]

TARGET_RATIO = 2.5

# the convolutions of the CIFAR ResNet-20 (paper section 4.2): (C, O, input size, stride)
RESNET20_CONVS = [
    (3, 16, 32, 1),  # conv1 on the image: no input gradient needed
    (16, 16, 32, 1),
    (16, 32, 32, 2),
    (32, 32, 16, 1),
    (32, 64, 16, 2),
    (64, 64, 8, 1),
]


@dataclass
class Row:
    """One line of the table; ``ratio`` is ours / torch (None when torch did not run)."""

    name: str
    ours_ms: float
    torch_ms: float | None
    target: float | None = TARGET_RATIO

    @property
    def ratio(self) -> float | None:
        return None if self.torch_ms is None else self.ours_ms / self.torch_ms

    @property
    def status(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        return "ok" if self.ratio <= self.target else "MISS"


@dataclass
class Case:
    """A benchmark: ``setup(batch, dtype, device) -> (ours, theirs)``, two zero-argument
    callables that each run one forward+backward and wait for the result."""

    name: str
    setup: object


def _conv_case(C, O, size, stride, plain=False):
    """A ResNet-20 convolution as the layers run it (``learnres.parallel``), or with
    ``plain=True`` the unscheduled op of ``learnres.functions`` on the whole batch, its
    matrix products on as many BLAS threads as the schedule has workers."""
    conv2d = F.conv2d if plain else parallel.conv2d

    def setup(batch, dtype, device, torch_device):
        import torch
        from threadpoolctl import ThreadpoolController

        blas = ThreadpoolController()  # unpinned, OpenBLAS would use every core (and spin)
        threads = get_num_threads() if plain else None
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, C, size, size)).astype(dtype)
        w = (rng.standard_normal((O, C, 3, 3)) * np.sqrt(2 / (9 * C))).astype(dtype)
        size_out = (size - 1) // stride + 1
        g = rng.standard_normal((batch, O, size_out, size_out)).astype(dtype)
        need_x = C != 3  # the first layer's input is the image: no gradient, in both
        xs, ws, gs = (
            Tensor(to_device(x, device), requires_grad=need_x),
            Tensor(to_device(w, device), requires_grad=True),
            to_device(g, device),
        )
        tx = torch.from_numpy(x).to(torch_device).requires_grad_(need_x)
        tw = torch.from_numpy(w).to(torch_device).requires_grad_(True)
        tg = torch.from_numpy(g).to(torch_device)

        def ours():
            ws.grad = xs.grad = None
            with blas.limit(limits=threads, user_api="blas"):
                conv2d(xs, ws, stride=stride, padding=1).backward(gs)
            _wait(ws.grad)

        def theirs():
            tw.grad = tx.grad = None
            torch.nn.functional.conv2d(tx, tw, stride=stride, padding=1).backward(tg)
            _torch_wait(tw.grad)

        return ours, theirs

    where = f"{size}x{size}" + (f" stride {stride}" if stride > 1 else "")
    return Case(f"conv3x3 {C}->{O} {where}" + (" plain" if plain else ""), setup)


def _batch_norm_case(C=16, size=32):
    def setup(batch, dtype, device, torch_device):
        import torch

        rng = np.random.default_rng(1)
        x = (rng.standard_normal((batch, C, size, size)) * 2 + 1).astype(dtype)
        g = rng.standard_normal(x.shape).astype(dtype)
        gamma, beta = np.ones(C, dtype), np.zeros(C, dtype)
        xs, gs = Tensor(to_device(x, device), requires_grad=True), to_device(g, device)
        ws, bs = (Tensor(to_device(a, device), requires_grad=True) for a in (gamma, beta))
        mean, var = to_device(np.zeros(C, dtype), device), to_device(np.ones(C, dtype), device)
        tx, tg = (
            torch.from_numpy(x).to(torch_device).requires_grad_(True),
            torch.from_numpy(g).to(torch_device),
        )
        tw, tb = (torch.from_numpy(a).to(torch_device).requires_grad_(True) for a in (gamma, beta))
        tmean, tvar = (
            torch.from_numpy(a.copy()).to(torch_device)
            for a in (np.zeros(C, dtype), np.ones(C, dtype))
        )

        def ours():
            xs.grad = ws.grad = bs.grad = None
            parallel.batch_norm(xs, mean, var, ws, bs, training=True).backward(gs)
            _wait(xs.grad)

        def theirs():
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.batch_norm(tx, tmean, tvar, tw, tb, training=True).backward(tg)
            _torch_wait(tx.grad)

        return ours, theirs

    return Case(f"batch_norm {C}x{size}x{size} train", setup)


def _relu_case(C=16, size=32):
    def setup(batch, dtype, device, torch_device):
        import torch

        rng = np.random.default_rng(2)
        x = rng.standard_normal((batch, C, size, size)).astype(dtype)
        g = rng.standard_normal(x.shape).astype(dtype)
        xs, gs = Tensor(to_device(x, device), requires_grad=True), to_device(g, device)
        tx, tg = (
            torch.from_numpy(x).to(torch_device).requires_grad_(True),
            torch.from_numpy(g).to(torch_device),
        )

        def ours():
            xs.grad = None
            F.relu(xs).backward(gs)
            _wait(xs.grad)

        def theirs():
            tx.grad = None
            torch.relu(tx).backward(tg)
            _torch_wait(tx.grad)

        return ours, theirs

    return Case(f"relu {C}x{size}x{size}", setup)


def cases() -> list[Case]:
    """The benchmarked ops, in ResNet-20's order, and one plain convolution on the whole
    batch (what the schedule of learnres.parallel buys)."""
    convs = [_conv_case(*c) for c in RESNET20_CONVS]
    return convs + [_conv_case(16, 16, 32, 1, plain=True), _batch_norm_case(), _relu_case()]


def _wait(array) -> None:
    """Block until a (GPU) array is computed: copying one element back synchronises."""
    asnumpy(array.ravel()[:1])


def _torch_wait(t) -> None:
    if t.is_cuda:  # pragma: no cover - needs a GPU
        import torch

        torch.cuda.synchronize()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _time_ms(fn, clock=time.perf_counter) -> float:
    start = clock()
    fn()
    return (clock() - start) * 1e3


WARM_MS = 50  # untimed runs before each timed one: longer than idle OpenMP threads spin


def steady_ms(fn, clock=time.perf_counter) -> float:
    """ms of one run of ``fn`` in a steady state: timed after untimed runs of ``fn`` itself
    that last at least ``WARM_MS`` (one run, when a run takes longer).

    When two libraries alternate, neither should pay for the other. A library's idle
    worker threads spin for a while before they sleep: torch's OpenMP threads for 5-20 ms
    after each parallel op (libgomp's default). With as many cores as threads, a learnres
    run timed right after a torch run shared its cores with them: on a 2-core AMD EPYC, a
    64->64 8x8 convolution (batch 128, forward and backward, 2 threads) took 18.4 ms that
    way and 12.0 ms alone; timed so, 11.8 ms (torch: 5.3, 4.6 alone, 4.6). Sleeping instead
    does not help: a core left idle on a virtual machine starts its next run slow (21 ms
    after a 100 ms sleep). A training loop runs its steps back to back, as these runs are.
    """
    start = time.perf_counter()
    fn()
    while (time.perf_counter() - start) * 1e3 < WARM_MS:
        fn()
    return _time_ms(fn, clock)


def time_case(
    case: Case,
    batch: int,
    repeats: int,
    dtype=np.float32,
    device="cpu",
    torch_device="cpu",
    clock="wall",
) -> Row:
    """Median ms of learnres and of torch over ``repeats`` alternating runs.

    ``torch_device=None`` times learnres alone. ``clock="cpu"`` measures the process's CPU
    time instead of wall time: steadier on a busy machine, meaningful with one thread.
    """
    ours, theirs = case.setup(batch, dtype, device, torch_device or "cpu")
    if torch_device is not None:
        theirs()  # torch warms up first, then learnres
    ours()
    ours_ms, torch_ms = [], []
    for _ in range(repeats):
        ours_ms.append(steady_ms(ours, CLOCKS[clock]))
        if torch_device is not None:
            torch_ms.append(steady_ms(theirs, CLOCKS[clock]))
    return Row(
        case.name, statistics.median(ours_ms), statistics.median(torch_ms) if torch_ms else None
    )


def op_rows(
    batch=128, repeats=20, dtype=np.float32, device="cpu", torch_device="cpu", clock="wall"
) -> list[Row]:
    """One ``Row`` per benchmarked op (see ``cases``)."""
    return [time_case(c, batch, repeats, dtype, device, torch_device, clock) for c in cases()]


# ---- memory ---------------------------------------------------------------------------------


def _rss_kib(reset_peak: bool = False) -> dict:
    """Current (VmRSS) and peak (VmHWM) resident memory of this process, in KiB (Linux).

    ``reset_peak`` sets the peak back to the current RSS (writing 5 to clear_refs), so the
    next VmHWM is the peak since now. (getrusage's ru_maxrss cannot be reset, and a child
    process inherits its parent's across fork and exec.)
    """
    if reset_peak:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith("Vm"))
    return {k: int(v.split()[0]) for k, v in fields.items()}


def _memory_probe(which: str, batch: int, C: int, size: int) -> dict:
    """Run one conv forward+backward in *this* process and measure it (called in a child)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, C, size, size)).astype(np.float32)
    w = rng.standard_normal((C, C, 3, 3)).astype(np.float32)
    g = rng.standard_normal((batch, C, size, size)).astype(np.float32)
    out = {}
    if which == "torch":
        import torch

        torch.set_num_threads(get_num_threads())
        tx, tw, tg = (
            torch.from_numpy(x).requires_grad_(),
            torch.from_numpy(w).requires_grad_(),
            torch.from_numpy(g),
        )

        def step():
            torch.nn.functional.conv2d(tx, tw, padding=1).backward(tg)
    else:
        xs, ws = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)

        def step():
            xs.grad = ws.grad = None
            parallel.conv2d(xs, ws, padding=1).backward(g)

    try:
        before = _rss_kib(reset_peak=True)["VmRSS"]
        step()
        out["rss_mb"] = (_rss_kib()["VmHWM"] - before) / 1024
    except OSError:  # no /proc (not Linux): RSS is not measured
        step()
        out["rss_mb"] = None
    if which == "learnres":
        tracemalloc.start()  # only allocations from here on count: not the inputs
        step()
        out["traced_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def memory_rows(batch=128, C=16, size=32) -> list[tuple[str, str]]:
    """Peak memory of a conv forward+backward, each library in a fresh child process."""
    results = {}
    for which in ("learnres", "torch"):
        code = (
            "import json, sys; from learnres.bench.ops import _memory_probe; "
            f"print(json.dumps(_memory_probe({which!r}, {batch}, {C}, {size})))"
        )
        env = dict(os.environ, LEARNRES_NUM_THREADS=str(get_num_threads()))  # as in the parent
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        results[which] = json.loads(done.stdout.strip().splitlines()[-1])

    def mib(value):
        return "n/a" if value is None else f"{value:.0f} MiB"

    data_mb = batch * C * size * size * 4 / 2**20
    shape = f"{batch}x{C}x{size}x{size}"
    return [
        (f"conv3x3 {C}->{C} at {shape}: input/output {data_mb:.0f} MiB each", ""),
        (
            "learnres, NumPy allocations traced (tracemalloc peak)",
            mib(results["learnres"]["traced_mb"]),
        ),
        (
            "learnres, peak RSS above the inputs (VmHWM, fresh process)",
            mib(results["learnres"]["rss_mb"]),
        ),
        (
            "torch, peak RSS above the inputs (VmHWM, fresh process)",
            mib(results["torch"]["rss_mb"]),
        ),
    ]


# ---- the machine ----------------------------------------------------------------------------


def _cpuinfo() -> dict:
    """/proc/cpuinfo as {field: value} (the processors agree on what is used here); {} where
    there is none (not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in f)}
    except OSError:
        return {}


def blas_kernels() -> dict:
    """NumPy's BLAS: ``name`` ("openblas 0.3.31"), ``kernels`` (the core type it runs,
    "Haswell"), ``coretype`` (``OPENBLAS_CORETYPE`` from the environment, or None) and
    ``avx512`` (whether this CPU has AVX-512F, from /proc/cpuinfo; False elsewhere)."""
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return {
        "name": f"{blas[0]['internal_api']} {blas[0].get('version')}" if blas else "unknown",
        "kernels": (blas[0].get("architecture") or "unknown") if blas else "unknown",
        "coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "avx512": "avx512f" in _cpuinfo().get("flags", "").split(),
    }


def machine_line(threads: int) -> str:
    """The CPU, NumPy's BLAS and its float32 matrix-product speed on ``threads`` threads.

    sgemm: the best of 3 products of two 2048 x 2048 float32 matrices, 2 * 2048^3 flops each
    (wall time; the thread's CPU time on one thread, steadier on a busy machine).
    """
    import platform

    from threadpoolctl import threadpool_limits

    model = _cpuinfo().get("model name", platform.processor() or platform.machine())
    blas = blas_kernels()
    flags = " (AVX-512)" if blas["avx512"] else ""
    blas_name = blas["name"] if blas["name"] == "unknown" else f"{blas['name']} ({blas['kernels']})"
    if blas["coretype"]:  # chosen by the environment, not by OpenBLAS
        blas_name += f" (OPENBLAS_CORETYPE={blas['coretype']})"
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    clock = time.thread_time if threads == 1 else time.perf_counter  # one thread: its CPU time
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ a  # warm-up
        seconds = min(_time_ms(lambda: a @ a, clock) for _ in range(3)) / 1e3
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"machine: {model}{flags}, {cores} cores; NumPy's BLAS: {blas_name}, "
        f"sgemm {2 * 2048**3 / seconds / 1e9:.0f} GFLOP/s on {threads} thread(s)"
        + (" (CPU time)" if threads == 1 else "")
    )


# ---- output ---------------------------------------------------------------------------------


def print_table(rows: list[Row], file=None) -> None:
    print(
        f"{'op (forward+backward)':<34} {'learnres ms':>11} {'torch ms':>9} {'ratio':>6}  target",
        file=file,
    )
    for r in rows:
        torch_ms = "-" if r.torch_ms is None else f"{r.torch_ms:.2f}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        target = "" if r.target is None else f"<= {r.target:g} {r.status}"
        print(f"{r.name:<34} {r.ours_ms:>11.2f} {torch_ms:>9} {ratio:>6}  {target}", file=file)


def run(args) -> int:
    """The ``--suite ops`` part of ``learnres bench``."""
    import torch

    if args.threads:
        set_num_threads(args.threads)
    threads = get_num_threads()
    torch.set_num_threads(threads)
    torch_device = "cpu"
    if args.device == "cuda":
        torch_device = "cuda" if torch.cuda.is_available() else None
    dtype = np.dtype(args.dtype)
    repeats = 3 if args.quick and args.repeats is None else (args.repeats or 20)
    print(
        f"learnres bench --suite ops: batch {args.batch_size}, {dtype.name}, device {args.device}, "
        f"{repeats} repeats alternating,\neach timed after {WARM_MS} ms of untimed runs of its "
        f"own (median {args.clock} ms; ratio = learnres / torch)"
    )
    print(f"threads: learnres {threads}, torch {torch.get_num_threads()}")
    print(machine_line(threads) + "\n")
    if torch_device is None:
        print("torch has no CUDA here: timing learnres alone")
    rows = op_rows(args.batch_size, repeats, dtype, args.device, torch_device, args.clock)
    print_table(rows)
    missed = [r.name for r in rows if r.status == "MISS"]
    print(
        f"\n{len(rows) - len(missed)}/{len(rows)} rows within {TARGET_RATIO}x torch"
        + (f"; missed: {', '.join(missed)}" if missed else "")
    )
    if args.memory and args.device == "cpu":
        print("\npeak memory of one forward+backward (above the inputs)")
        for label, value in memory_rows(args.batch_size):
            print(f"  {label:<58} {value}")
    return 0
