"""What a training step asks of a GPU, counted on the CuPy stand-in through the real loop.

A GPU step is fast only if the host never waits for the GPU inside it (a synchronisation
leaves the GPU idle while Python prepares the next kernels), copies nothing from the host
but the batch (a copy from ordinary host memory waits for the GPU too) and launches few
kernels (each costs microseconds of Python and driver time whatever its size).

The budgets were measured on this code with ``counting`` (the stand-in counts one launch per
ufunc, reduction, copy, fill, matrix product, advanced indexing and fused kernel) and are
written here so that a change that adds launches has to say so. Before the flat SGD buffers,
ResNet-20 took 1,524 launches a step (SGD alone 413) and 4 synchronisations, ResNet-56
4,260 (SGD 1,169) and 4; now 1,060 and 2,932 (SGD one fused kernel), and none.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.backend import asnumpy
from learnres.data import DataLoader
from learnres.data.transforms import Compose, RandomCropFlip, ToFloat
from learnres.models import resnet
from learnres.optim import SGD, StepSchedule, WarmupSchedule, make_schedule
from learnres.train import Trainer, TrainingDiverged
from tests.train.helpers import IMAGES, LABELS, tiny_model

LAUNCH_BUDGET = {20: 1060, 56: 2932}  # measured with this code: launches a step


def _counted_steps(standin, depth, iterations=3, log_every=100, batch=2):
    """Counts of each iteration of ``Trainer.fit`` (fetching the batch included) but the last.

    The counts do not depend on the batch size, so the batches are small (the stand-in
    computes with NumPy on the CPU)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch * iterations, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=batch * iterations)
    loader = DataLoader(
        images, labels, batch, shuffle=False, transform=ToFloat(), device="cuda", prefetch=False
    )
    per_step = []

    class Counted:  # the loader, each batch counted from fetching it to fetching the next
        def __iter__(self):
            batches = iter(loader)
            while True:
                with standin.counting() as counts:
                    try:
                        batch = next(batches)
                    except StopIteration:
                        return
                    yield batch
                per_step.append(counts)

        def __len__(self):
            return len(loader)

    model = resnet(depth).to("cuda")
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    trainer = Trainer(
        model,
        optimizer,
        make_schedule("paper", 0.1, iterations),
        Counted(),
        iterations,
        log_every=log_every,
        progress=False,
    )
    trainer.fit()
    return per_step


@pytest.mark.parametrize("depth", [20, 56])
def test_a_resnet_step_has_no_sync_no_copy_but_the_batch_and_a_launch_budget(standin, depth):
    steps = _counted_steps(standin, depth)
    assert len(steps) == 2  # the last iteration ends the run (its read-back is not a step's)
    for k, counts in enumerate(steps[1:], start=2):  # step 1 lays out the SGD buffers
        assert counts.syncs == 0, f"step {k} waited for the GPU: {counts.sync_sites}"
        assert counts.h2d == 2, f"step {k} copied more than the batch: {counts.h2d_sites}"
        assert counts.launches <= LAUNCH_BUDGET[depth], counts
    sgd = steps[-1].launch_names["fuse:sgd_update"]
    assert sgd == 1, f"SGD took {sgd} fused kernels a step, expected one (one flat buffer)"


def test_the_loss_and_error_are_read_once_per_logging_window(standin):
    steps = _counted_steps(standin, 20, iterations=5, log_every=2)
    syncs = [c.syncs for c in steps]
    assert syncs[0] == syncs[2] == 0  # iterations 1 and 3
    assert 1 <= syncs[1] <= 2 and 1 <= syncs[3] <= 2, syncs  # the read-back at 2 and 4


def test_the_budget_catches_a_sync_in_the_step(standin, monkeypatch):
    """The counters see a read-back slipped into the step (the loss read every step)."""
    step = Trainer.train_step

    def reading_step(self, images, labels):
        loss, wrong = step(self, images, labels)
        float(loss)  # what the loop did before: a synchronisation a step
        return loss, wrong

    monkeypatch.setattr(Trainer, "train_step", reading_step)
    steps = _counted_steps(standin, 20)
    assert [c.syncs for c in steps] == [1, 1]
    assert "trainer" not in steps[1].sync_sites[0] and "test_step_budget" in steps[1].sync_sites[0]


def _tiny(device, iterations, lr=0.1, schedule=None, **kw):
    """tests/train/helpers' tiny run, on ``device``."""
    model = tiny_model().to(device)
    train = DataLoader(
        IMAGES,
        LABELS,
        batch_size=16,
        drop_last=True,
        device=device,
        transform=Compose([ToFloat(), RandomCropFlip(2)]),
    )
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    schedule = schedule or make_schedule("paper", lr, iterations)
    kw.setdefault("progress", False)
    return Trainer(model, optimizer, schedule, train, iterations, **kw)


def test_the_gpu_path_trains_as_the_cpu_path(standin):
    """The same run on NumPy and on the stand-in: the same weights and history up to the
    order of sums (the CPU path splits the batch into chunks for threads, the GPU path does
    not; the GPU's loss sums are read per window, the CPU's per step)."""
    runs = {device: _tiny(device, iterations=7, log_every=3) for device in ("cpu", "cuda")}
    for trainer in runs.values():
        trainer.fit()
    cpu, gpu = runs["cpu"], runs["cuda"]
    for (key, a), b in zip(cpu.model.state_dict().items(), gpu.model.state_dict().values()):
        np.testing.assert_allclose(asnumpy(a), asnumpy(b), rtol=1e-9, atol=1e-12, err_msg=key)
    assert [r["iteration"] for r in cpu.history.rows] == [3, 6, 7]
    for a, b in zip(cpu.history.rows, gpu.history.rows):
        assert a["train_error"] == b["train_error"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-9)


def test_a_diverging_gpu_run_stops_at_the_read_back(standin, tmp_path):
    """The loss is read once per window on a GPU: a NaN is found there, the run stops with
    the window named, and no checkpoint is written after it."""
    trainer = _tiny(
        "cuda",
        iterations=400,
        lr=1e6,
        log_every=5,
        checkpoint_every=5,
        out_dir=tmp_path,
        plot=False,
    )
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    err = info.value
    assert err.iteration % 5 == 0 and "is not finite" in str(err)
    assert f"iterations {err.iteration - 4}..{err.iteration}" in str(err)
    from learnres.train import load_checkpoint

    kept = load_checkpoint(tmp_path / "checkpoint.npz")
    assert kept["iteration"] == err.iteration - 5
    assert all(np.isfinite(v).all() for v in kept["model"].values())


def test_the_warm_up_reads_each_steps_error_until_it_ends(standin):
    """The paper's warm-up decides on every step's error: those steps read it back (the
    error, and the device-side label checks waiting for a read); after the warm-up, none."""
    warmup = WarmupSchedule(StepSchedule(0.1, (100, 150)), threshold=1.01, window=2)
    trainer = _tiny("cuda", iterations=5, schedule=warmup, log_every=100)
    syncs = []
    trainer.callbacks.append(lambda t: syncs.append(counts.syncs))
    with standin.counting() as counts:
        trainer.fit()
    per_step = np.diff([0] + syncs).tolist()
    assert warmup.warmup_end == 2 and per_step[2:4] == [0, 0]
    assert all(1 <= n <= 2 for n in per_step[:2]), per_step
