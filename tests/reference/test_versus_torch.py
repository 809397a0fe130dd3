"""learnres and PyTorch trained side by side: same weights, batches, augmentation, recipe."""

from __future__ import annotations

import numpy as np
import pytest

from learnres.data import DataLoader
from learnres.data.transforms import Compose, RandomCropFlip, SubtractMean, ToFloat, mean_image
from learnres.models import resnet
from learnres.nn import init
from learnres.optim import SGD, make_schedule
from learnres.train import Trainer

torch = pytest.importorskip("torch")

# learnres.reference imports torch itself, so it can only come after the skip above
from learnres.reference import to_torch  # noqa: E402
from learnres.reference.versus_torch import train_torch_twin  # noqa: E402

STEPS = 20


def _loaders(images, labels):
    train_tf = Compose([ToFloat(), SubtractMean(mean_image(images)), RandomCropFlip(4)])
    test_tf = Compose([ToFloat(), SubtractMean(mean_image(images))])
    train = DataLoader(images, labels, batch_size=8, drop_last=True, seed=3, transform=train_tf)
    test = DataLoader(images[:32], labels[:32], batch_size=16, shuffle=False, transform=test_tf)
    return train, {"test": test}


@pytest.mark.parametrize("schedule", ["paper", "cosine"])
def test_loss_trajectories_agree_for_20_steps_in_float64(schedule):
    """ResNet-8 (n=1, option A), batch 8 of 16x16 random images with the paper's mean
    subtraction and pad/crop/flip, SGD momentum 0.9, weight decay 1e-4, lr 0.1 with the
    milestones at steps 10 and 15 (or cosine): every step's loss, the final weights and the
    final test loss agree within 1e-6 relative (measured: ~6e-16 on the losses)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(48, 3, 16, 16), dtype=np.uint8)
    labels = rng.integers(0, 10, size=48)
    init.manual_seed(0)
    model = resnet(8).double()
    twin = to_torch(model)  # float64 copy of the initial weights

    loader, evals = _loaders(images, labels)
    optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    trainer = Trainer(
        model,
        optimizer,
        make_schedule(schedule, 0.1, STEPS),
        loader,
        STEPS,
        eval_loaders=evals,
        log_every=1,
        progress=False,
    )
    trainer.fit()

    loader, evals = _loaders(images, labels)  # an identical stream for torch
    theirs = train_torch_twin(
        twin,
        loader,
        STEPS,
        make_schedule(schedule, 0.1, STEPS),
        momentum=0.9,
        weight_decay=1e-4,
        log_every=1,
        eval_loaders=evals,
    )

    _, ours_loss = trainer.history.column("train_loss")
    _, torch_loss = theirs.column("train_loss")
    assert len(ours_loss) == len(torch_loss) == STEPS
    rel = np.abs(np.array(ours_loss) - torch_loss) / np.abs(torch_loss)
    print(f"max relative loss difference {rel.max():.2e}")
    assert rel.max() < 1e-6, f"loss trajectories differ by {rel.max():.2e} (step {rel.argmax()})"
    assert abs(ours_loss[-1] - ours_loss[0]) > 1e-3  # the weights did move
    _, lrs = trainer.history.column("lr")
    assert lrs == pytest.approx(theirs.column("lr")[1], rel=1e-12)  # torch's own schedulers
    for key, value in twin.state_dict().items():
        ours = model.state_dict()[key]
        scale = max(float(np.abs(value.numpy()).max()), 1e-12)
        assert np.abs(ours - value.numpy()).max() / scale < 1e-6, key
    assert trainer.history.last("test_loss") == pytest.approx(theirs.last("test_loss"), rel=1e-6)
