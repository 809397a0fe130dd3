"""What a training step asks of a GPU, counted on the CuPy stand-in through the real loop.

A GPU step is fast only if the host never waits for the GPU inside it (a synchronisation
leaves the GPU idle while Python prepares the next kernels), copies nothing from the host
but the batch (a copy from ordinary host memory waits for the GPU too) and launches few
kernels (each costs microseconds of Python and driver time whatever its size).

The budgets were measured on this code with ``counting`` (the stand-in counts one launch per
ufunc, reduction, copy, fill, matrix product, advanced indexing and fused kernel) and are
written here so that a change that adds launches has to say so. Before the flat SGD buffers,
ResNet-20 took 1,524 launches a step (SGD alone 413) and 4 synchronisations, ResNet-56
4,260 and 4.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.data import DataLoader
from learnres.data.transforms import ToFloat
from learnres.models import resnet
from learnres.optim import SGD, make_schedule
from learnres.train import Trainer

LAUNCH_BUDGET = {20: 1117, 56: 3097}  # measured with this code: launches a step


def _counted_steps(standin, depth, iterations=3, log_every=100, batch=2):
    """Counts of each iteration of ``Trainer.fit`` (fetching the batch included) but the last.

    The counts do not depend on the batch size, so the batches are small (the stand-in
    computes with NumPy on the CPU)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch * iterations, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=batch * iterations)
    loader = DataLoader(images, labels, batch, shuffle=False, transform=ToFloat(),
                        device="cuda", prefetch=False)  # fmt: skip
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
    trainer = Trainer(model, optimizer, make_schedule("paper", 0.1, iterations), Counted(),
                      iterations, log_every=log_every, progress=False)  # fmt: skip
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
