"""The whole training step against PyTorch: ResNet-20 and ResNet-56 at batch 128.

    learnres bench --suite step [--batch-size 128] [--repeats 10] [--threads N] [--quick]

One step is what ``learnres.train.Trainer`` does per iteration: forward, cross-entropy,
``zero_grad``, backward, SGD update (momentum 0.9, weight decay 1e-4). The torch side is the
twin of the same model (``learnres.reference.to_torch``: same weights) with
``torch.optim.SGD``, fed the same batch. The two run in one process, alternating step by
step after a warm-up, so a noisy machine slows both alike; the table gives the median of
each, the ratio of the medians, and images/s = batch / median.

Peak memory: each library trains each model for two steps in a fresh child process;
"peak RSS" is the process's high-water mark (VmHWM) and "step" the part above the memory
held before the first step (model, optimizer, batch), so it is what the activations and
gradients of one step cost.

The target (issue 17): within 2.0x torch's step time on the CPU (it was 2.5x).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import numpy as np

from learnres.bench.ops import CLOCKS, Row, _rss_kib, _time_ms, _torch_wait, _wait, machine_line

__all__ = ["DEPTHS", "add_step_rows", "memory_probe", "step_pair", "time_steps"]

DEPTHS = (20, 56)
TARGET_RATIO = 2.0  # learnres's step time / torch's


def step_pair(depth: int, batch: int, dtype=np.float32, device="cpu", torch_device="cpu"):
    """Two zero-argument callables, each one full training step of ResNet-``depth``.

    Both models start from the same weights and see the same random batch (float images
    (batch, 3, 32, 32), labels in 0..9).
    """
    import torch
    import torch.nn.functional as TF

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

    def ours():
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


def time_steps(depth: int, batch: int, repeats: int, dtype=np.float32, device="cpu",
               torch_device="cpu", clock="wall") -> Row:  # fmt: skip
    """Median ms per step of learnres and torch over ``repeats`` alternating steps.

    ``clock="cpu"``: the process's CPU time instead of wall time (meaningful with one thread).
    """
    ours, theirs = step_pair(depth, batch, dtype, device, torch_device)
    for _ in range(2):  # warm-up (torch's first steps set up its kernels), torch first
        theirs()
        ours()
    ours_ms, torch_ms = [], []
    for _ in range(repeats):
        ours_ms.append(_time_ms(ours, CLOCKS[clock]))
        torch_ms.append(_time_ms(theirs, CLOCKS[clock]))
    return Row(f"ResNet-{depth} step, batch {batch}", statistics.median(ours_ms),
               statistics.median(torch_ms), TARGET_RATIO)  # fmt: skip


def memory_probe(which: str, depth: int, batch: int, threads: int) -> dict:
    """Train ResNet-``depth`` for two steps in *this* process; its RSS in MiB (child only)."""
    import torch

    from learnres.parallel import set_num_threads

    set_num_threads(threads)
    torch.set_num_threads(threads)
    ours, theirs = step_pair(depth, batch)
    step = ours if which == "learnres" else theirs
    try:
        before = _rss_kib(reset_peak=True)["VmRSS"]
    except OSError:  # no /proc: not Linux
        return {"peak_mb": None, "step_mb": None}
    step()
    step()
    peak = _rss_kib()["VmHWM"]
    return {"peak_mb": peak / 1024, "step_mb": (peak - before) / 1024}


def _memory(which: str, depth: int, batch: int, threads: int) -> dict:
    code = (
        "import json; from learnres.bench.step import memory_probe; "
        f"print(json.dumps(memory_probe({which!r}, {depth}, {batch}, {threads})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"peak_mb": None, "step_mb": None, "error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def add_step_rows(args) -> list:
    """The ``--suite step`` part of ``learnres bench``: prints its report, returns []."""
    import torch

    from learnres.parallel import get_num_threads, set_num_threads

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
        f"each, alternating (median {args.clock} ms; ratio = learnres / torch)"
    )
    print(f"threads: learnres {threads}, torch {torch.get_num_threads()}")
    if args.device == "cpu":
        print(machine_line(threads))
    print()
    print(f"{'model':<11} {'learnres ms':>11} {'torch ms':>9} {'ratio':>6} "
          f"{'learnres img/s':>14} {'torch img/s':>11}  target")  # fmt: skip
    rows = []
    for depth in DEPTHS:
        row = time_steps(depth, batch, repeats, dtype, args.device, torch_device, args.clock)
        rows.append(row)
        print(f"{'ResNet-' + str(depth):<11} {row.ours_ms:>11.1f} {row.torch_ms:>9.1f} "
              f"{row.ratio:>6.2f} {batch / row.ours_ms * 1e3:>14.0f} "
              f"{batch / row.torch_ms * 1e3:>11.0f}  <= {TARGET_RATIO:g} {row.status}",
              flush=True)  # fmt: skip
    if args.memory and args.device == "cpu" and dtype == np.float32:
        print("\npeak memory, two training steps in a fresh process (MiB)")
        print(f"{'model':<11} {'library':<9} {'peak RSS':>9} {'step':>7}")
        for depth in DEPTHS:
            for which in ("learnres", "torch"):
                m = _memory(which, depth, batch, threads)
                peak = "n/a" if m["peak_mb"] is None else f"{m['peak_mb']:.0f}"
                step = "n/a" if m["step_mb"] is None else f"{m['step_mb']:.0f}"
                print(f"{'ResNet-' + str(depth):<11} {which:<9} {peak:>9} {step:>7}")
                if "error" in m:
                    print(f"    ({m['error']})")
    missed = [r.name for r in rows if r.status == "MISS"]
    print(f"\n{len(rows) - len(missed)}/{len(rows)} models within {TARGET_RATIO}x torch"
          + (f"; missed: {', '.join(missed)}" if missed else ""))  # fmt: skip
    return []
