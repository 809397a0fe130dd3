"""``learnres.reference.ddp`` (``learnres scale``): two processes with gloo on 127.0.0.1.

``test_two_processes_train_like_one`` starts two processes of tests/reference/ddp_worker.py
as ``torchrun`` would (environment variables, a free port) for STEPS steps of ResNet-8 at a
global batch of 16 (8 per process) and checks:

(a) both processes hold identical parameters after every step. Exactly: DDP all-reduces the
    gradients, every process receives the same reduced bytes and applies the same SGD
    update. The BN running statistics differ (each process updates them from its own 8
    images) until DDP copies process 0's over at the next forward; they are checked too.
(b) the result equals a single-process torch run on the combined batch, computed the way DDP
    computes it: BatchNorm normalises each process's 8 images separately (as in the paper's
    multi-GPU runs), the loss is the mean of the two halves' means (= the mean over the 16),
    and the running statistics are process 0's. Tolerance FLOAT32_RTOL (1e-4 of the largest
    value, learnres.testing.parity). Measured here: 0, bit for bit, because every sum is the
    same sum: with two processes the all-reduce adds two numbers (a + b == b + a exactly), the
    halving is exact (a power of two), and every process runs the same single-threaded
    kernels on the same 8 images. What the tolerance allows for is what legitimately differs
    elsewhere: with more than two processes the all-reduce adds in an order of its own
    ((a + b) + c != a + (b + c) in float32, eps = 1.2e-7 per addition), multi-threaded or GPU
    convolutions block their reductions differently, and a few SGD steps amplify such
    last-bit differences. A single BN over all 16 images, by contrast, is a different
    computation: its distance is asserted to be far above the tolerance, so (b) can tell.
(c) the DDP weights, brought back with ``from_torch``, give the torch model's logits in
    learnres (float32, eval mode: the running statistics count too), within FLOAT32_RTOL.

``test_the_command_writes_a_learnres_run_folder`` runs ``torchrun -m learnres scale`` with
two processes on the CIFAR-10 subset and loads its checkpoint into learnres.

Both run the processes once more when gloo aborts one (SIGABRT, an intermittent crash inside
torch on a busy machine; ``learnres.lectures.run_torchrun``); any other failure fails.

Time: the two-process test takes ~20 s on an idle 2-core machine (measured 21 s at load 3,
54 s at load 12); its limits are generous so that a busy machine does not fail it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from learnres import Tensor
from learnres.data import Dataset
from learnres.reference import from_torch, to_torch
from learnres.reference.ddp import Distributed, ShardedLoader, free_port
from learnres.testing import FLOAT32_RTOL, relative_error
from tests.reference.ddp_worker import (
    GLOBAL_BATCH,
    LR,
    MOMENTUM,
    WEIGHT_DECAY,
    global_batch,
    initial_model,
)

REPO = Path(__file__).resolve().parents[2]
STEPS = 4
WORLD = 2

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="this torch has no torch.distributed with gloo",
)


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["OMP_NUM_THREADS"] = "1"  # as torchrun sets it: two processes on a small machine
    env.update(extra)
    return env


def run_workers(out: Path, timeout: float = 300) -> dict:
    """Start WORLD worker processes on 127.0.0.1 and wait; process 0's results.

    torch's gloo has, now and then on a busy machine, aborted a process (SIGABRT,
    "terminate called without an active exception", no Python traceback; see
    ``learnres.lectures.run_torchrun``). When a worker dies so, the workers run once more
    (the first attempt's output is printed); any other failure, or a second abort, fails.
    """
    for attempt in (1, 2):
        codes, outputs = _start_workers(out, timeout)
        if all(code == 0 for code in codes):
            break
        report = "\n".join(
            f"process {rank} exit code {code}:\n{text}"
            for rank, (code, text) in enumerate(zip(codes, outputs))
        )
        assert attempt == 1 and -signal.SIGABRT in codes, report
        print(f"first attempt: a process was aborted (SIGABRT); running again\n{report}")
    with np.load(out / "ddp.npz") as f:
        return {k: f[k] for k in f.files}


def _start_workers(out: Path, timeout: float) -> tuple[list, list]:
    """The WORLD workers run to their end: their exit codes and outputs."""
    port = str(free_port())
    procs = []
    for rank in range(WORLD):
        env = _env(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(WORLD),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
            PYTHONFAULTHANDLER="1",  # a crashing process prints its threads' stacks
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.reference.ddp_worker", str(out), str(STEPS)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    deadline = time.monotonic() + timeout
    outputs = []
    try:
        for proc in procs:
            try:
                outputs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
            except subprocess.TimeoutExpired:  # e.g. waiting for a peer that died
                proc.kill()
                outputs.append(proc.communicate()[0] + f"\n(killed after {timeout:.0f} s)")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [proc.returncode for proc in procs], outputs


def reference_run(per_process_bn: bool = True) -> dict:
    """One process, the same start and global batches. ``per_process_bn``: each half of the
    batch through the model separately (BN statistics per half, as DDP has them), the loss
    the mean of the halves' losses; the running statistics are those process 0 keeps (the
    half-1 pass's update is undone). Else the 16 images in one pass (one BN over all)."""
    torch.set_num_threads(1)
    twin = to_torch(initial_model())
    optimizer = torch.optim.SGD(
        twin.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
    )
    share = GLOBAL_BATCH // WORLD
    losses = []
    twin.train()
    for step in range(STEPS):
        x, y = (torch.from_numpy(a) for a in global_batch(step))
        if per_process_bn:
            kept = {k: b.clone() for k, b in twin.named_buffers()}
            halves = []
            for rank in reversed(range(WORLD)):  # process 0 last: its running statistics stay
                part = slice(rank * share, (rank + 1) * share)
                halves.append(F.cross_entropy(twin(x[part]), y[part]))
                if rank != 0:  # undo its update: new buffer tensors (the graph keeps the old)
                    for name, module in twin.named_modules():
                        for key in list(module._buffers):
                            full = f"{name}.{key}" if name else key
                            setattr(module, key, kept[full].clone())
            loss = sum(halves) / WORLD
        else:
            loss = F.cross_entropy(twin(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return {"state": twin.state_dict(), "losses": np.array(losses), "twin": twin}


def state_error(ddp: dict, reference) -> float:
    """The largest relative error (``relative_error``: of the largest value) over the
    floating-point entries of the state."""
    errors = [
        relative_error(ddp[f"state/{k}"], v.numpy())
        for k, v in reference.items()
        if v.is_floating_point()
    ]
    return max(errors)


@pytest.fixture(scope="module")
def ddp_result(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("ddp")
    tic = time.perf_counter()
    result = run_workers(out)
    result["seconds"] = time.perf_counter() - tic
    return result


@pytest.mark.timeout(400)
def test_two_processes_train_like_one(ddp_result):
    # (a) identical parameters on both processes after every step
    assert ddp_result["param_diffs"].shape == (STEPS,)
    assert ddp_result["param_diffs"].max() == 0.0, ddp_result["param_diffs"]
    # the running statistics are each process's own until the next forward copies process 0's
    assert ddp_result["buffer_diffs"].min() > 0.0

    # (b) a single-process run on the combined batch, BN per half as DDP has it
    ours = reference_run(per_process_bn=True)
    error = state_error(ddp_result, ours["state"])
    loss_error = np.abs(ddp_result["losses"] - ours["losses"]).max()
    one_bn = state_error(ddp_result, reference_run(per_process_bn=False)["state"])
    print(
        f"\n2 processes x {STEPS} steps of ResNet-8 ({ddp_result['seconds']:.1f} s): "
        f"max |parameter difference| between processes {ddp_result['param_diffs'].max():.1e}; "
        f"DDP vs one process (BN per half): relative state error {error:.1e}, loss "
        f"difference {loss_error:.1e}; vs one BN over all 16: {one_bn:.1e}"
    )
    assert error <= FLOAT32_RTOL
    assert loss_error <= FLOAT32_RTOL * np.abs(ours["losses"]).max()
    assert one_bn > 100 * FLOAT32_RTOL  # a different computation, told apart

    # (c) back into learnres: the same logits as the torch model
    model = from_torch(
        initial_model(),
        {k[len("state/") :]: v for k, v in ddp_result.items() if k.startswith("state/")},
    )
    twin = to_torch(initial_model())
    twin.load_state_dict({k: torch.from_numpy(ddp_result[f"state/{k}"]) for k in twin.state_dict()})
    x = global_batch(STEPS)[0]
    model.eval()
    twin.eval()
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    got = model(Tensor(x)).data
    round_trip = relative_error(got, expected)
    print(f"learnres vs torch logits after the round trip: relative error {round_trip:.1e}")
    assert round_trip <= FLOAT32_RTOL


@pytest.mark.timeout(400)
def test_the_command_writes_a_learnres_run_folder(tmp_path, shared_datasets):
    from learnres.lectures import run_torchrun
    from learnres.reference.ddp import load_run_model
    from learnres.train import load_checkpoint, read_csv

    command = [
        "torchrun",
        "--nnodes",
        "1",
        "--nproc_per_node",
        str(WORLD),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "-m",
        "learnres",
        "scale",
        "--model",
        "resnet8",
        "--data-dir",
        str(shared_datasets),
        "--subset",
        "200",
        "--iterations",
        "4",
        "--batch-size",
        "16",
        "--no-progress",
        "--out",
        str(tmp_path / "run"),
    ]
    done, out = run_torchrun(command, timeout=360)  # once more if gloo aborts a process
    assert "2 process(es), gloo" in done.stdout
    assert {"metrics.csv", "checkpoint.npz", "config.json", "plot.png"} <= {
        p.name for p in out.iterdir()
    }
    history = read_csv(out)
    assert history.column("train_error")[0] == [1, 2, 3, 4]  # log every step of 4
    assert history.last_iteration_of("test_error") == 4
    config = json.loads((out / "config.json").read_text())
    assert config["scale_out"]["processes"] == 2 and config["scale_out"]["batch_per_process"] == 8
    state = load_checkpoint(out / "checkpoint.npz")
    assert state["iteration"] == 4 and state["loader"]["world_size"] == 2
    model = load_run_model(out)  # a learnres model with the trained weights
    init = initial_model()
    assert list(model.state_dict()) == list(init.state_dict())
    assert not np.array_equal(model.conv1.weight.data, init.conv1.weight.data)  # it trained
    np.testing.assert_array_equal(model.conv1.weight.data, state["model"]["conv1.weight"])

    assert "back in learnres: the checkpoint's model gives the torch model's logits" in (
        done.stdout
    )


def test_the_command_refuses_a_used_folder_and_resume(tmp_path, capsys):
    from learnres.cli import main
    from learnres.train import save_checkpoint

    save_checkpoint(tmp_path / "checkpoint.npz", {"iteration": 1})
    args = ["scale", "--model", "resnet8", "--out", str(tmp_path), "--no-progress"]
    assert main(args) == 2  # one process (no torchrun): a world of one, then refused
    assert "already holds a training run" in capsys.readouterr().err
    assert not torch.distributed.is_initialized()  # the process group was closed
    assert main([*args, "--resume"]) == 2
    assert "--resume is not supported for DDP runs" in capsys.readouterr().err


def fake_process(rank: int, world: int) -> Distributed:
    return Distributed(rank, world, rank, torch.device("cpu"), "gloo")


def test_each_process_gets_a_disjoint_share_of_every_epoch():
    n = 23
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 1, 2, 2), np.uint8)
    data = Dataset(images, np.arange(n) % 10, tuple("abcdefghij"), "numbers")
    loaders = [ShardedLoader(data, 3, fake_process(r, 2), seed=5, transform=None) for r in range(2)]
    assert [len(loader) for loader in loaders] == [3, 3]  # 23 -> 11 each -> 3 batches of 3
    epochs = []
    for _ in range(2):
        seen = []
        for loader in loaders:
            for x, y in loader:
                assert x.shape == (3, 1, 2, 2) and y.dtype == torch.int64
                index = x[:, 0, 0, 0].long()
                assert torch.equal(y, index % 10)  # labels travel with their images
                seen += index.tolist()
        assert len(seen) == len(set(seen)) == 18  # disjoint, 2 processes x 3 batches x 3
        epochs.append(seen)
    assert epochs[0] != epochs[1]  # reshuffled each epoch


def test_the_global_batch_must_divide_into_the_processes():
    from learnres.reference.ddp import _check_config
    from learnres.train import TrainConfig

    assert _check_config(TrainConfig(batch_size=128), fake_process(0, 8)) == 16
    with pytest.raises(ValueError, match="--batch-size 130 .* into 8 processes"):
        _check_config(TrainConfig(batch_size=130), fake_process(0, 8))


def test_momentum_buffers_come_back_in_learnres_sgd_layout():
    """Two torch SGD steps, then the state moved to learnres (weights and momentum): the
    third step in learnres equals the third step in torch (float64)."""
    from learnres.functions import cross_entropy
    from learnres.optim import SGD
    from learnres.reference.ddp import optimizer_state_for_learnres

    model = initial_model().double()
    twin = to_torch(model)
    options = {"lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY}
    theirs = torch.optim.SGD(twin.parameters(), **options)

    def torch_step(step):
        x, y = global_batch(step)
        loss = F.cross_entropy(twin(torch.from_numpy(x.astype(np.float64))), torch.from_numpy(y))
        theirs.zero_grad()
        loss.backward()
        theirs.step()

    for step in range(2):
        torch_step(step)
    from_torch(model, twin)
    ours = SGD(model.parameters(), lr=0.5, momentum=0.0)  # hyper-parameters come back too
    ours.load_state_dict(optimizer_state_for_learnres(theirs))
    x, y = global_batch(2)
    loss = cross_entropy(model(Tensor(x.astype(np.float64))), y)
    ours.zero_grad()
    loss.backward()
    ours.step()
    torch_step(2)
    for key, value in twin.state_dict().items():
        assert relative_error(model.state_dict()[key], value.numpy()) <= 1e-10, key
