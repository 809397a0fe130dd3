"""A tiny model and data set on which the loop's bookkeeping is tested in a second or two."""

from __future__ import annotations

import numpy as np

from learnres import nn
from learnres.data import DataLoader
from learnres.data.transforms import Compose, RandomCropFlip, ToFloat
from learnres.optim import SGD, make_schedule
from learnres.train import Trainer

IMAGES = np.random.default_rng(0).integers(0, 256, size=(96, 3, 8, 8), dtype=np.uint8)
LABELS = np.random.default_rng(1).integers(0, 4, size=96)


def tiny_model(seed=0, dtype=np.float64):
    nn.init.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 4),
    )
    return model.double() if dtype == np.float64 else model


def tiny_trainer(out_dir, iterations=12, seed=0, lr=0.1, model_seed=0, schedule="paper", **kw):
    """A Trainer over the 96 random images: augmentation, shuffling, momentum, BN stats all on,
    so every piece of state that a resume must restore is exercised."""
    model = tiny_model(model_seed)
    train = DataLoader(
        IMAGES,
        LABELS,
        batch_size=16,
        drop_last=True,
        seed=seed,
        transform=Compose([ToFloat(), RandomCropFlip(2)]),
    )
    test = DataLoader(IMAGES[:32], LABELS[:32], batch_size=16, shuffle=False, transform=ToFloat())
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    kw.setdefault("log_every", 2)
    kw.setdefault("eval_every", 4)
    kw.setdefault("checkpoint_every", 3)
    kw.setdefault("progress", False)
    return Trainer(
        model,
        optimizer,
        make_schedule(schedule, lr, iterations),
        train,
        iterations,
        eval_loaders={"test": test},
        out_dir=out_dir,
        config={"model": "tiny"},
        **kw,
    )
