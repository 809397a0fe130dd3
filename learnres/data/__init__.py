"""Datasets of the paper's experiments, their downloads, the CIFAR augmentation and a loader.

    train = load_dataset("cifar10", "train", data_dir="../shared/datasets")
    test = load_dataset("cifar10", "test", data_dir="../shared/datasets")
    train, val = split_validation(train, size=0.1, seed=0)  # the paper's 45k/5k (section 4.2)
    train_tf, test_tf = standard_transforms(train)  # per-pixel mean; pad + crop + flip
    loader = DataLoader.from_dataset(train, 128, transform=train_tf, seed=0, device="cpu")
    for images, labels in loader:  # float32 (128, 3, 32, 32), int64 (128,)
        ...
    evaluation = DataLoader.from_dataset(test, 500, shuffle=False, transform=test_tf)

Modules, in the order data flows through them: ``safe_pickle`` (reading CIFAR pickles
without running code), ``cifar`` and ``fashion_mnist`` (the readers), ``sources`` (data
folders, cache, pooch downloads), ``datasets`` (``load_dataset``), ``dataset`` (the
``Dataset`` record, validation split, subsets), ``transforms``, ``loader``.
"""

from learnres.data.cifar import read_cifar10, read_cifar100
from learnres.data.dataset import (
    PAPER_VALIDATION_SIZE,
    Dataset,
    DatasetFormatError,
    split_validation,
    subset,
)
from learnres.data.datasets import DATASET_NAMES, load_dataset
from learnres.data.fashion_mnist import read_fashion_mnist, read_idx
from learnres.data.loader import DataLoader
from learnres.data.safe_pickle import RefusedGlobalError, safe_load
from learnres.data.sources import REMOTES, ChecksumError, DatasetNotFoundError, cache_dir
from learnres.data.transforms import (
    Compose,
    Normalize,
    PadTo,
    RandomCropFlip,
    SubtractMean,
    ToFloat,
    channel_stats,
    mean_image,
    random_crop_flip,
    standard_transforms,
)

__all__ = [
    "Dataset",
    "DATASET_NAMES",
    "load_dataset",
    "read_cifar10",
    "read_cifar100",
    "read_fashion_mnist",
    "read_idx",
    "split_validation",
    "subset",
    "PAPER_VALIDATION_SIZE",
    "DataLoader",
    "standard_transforms",
    "Compose",
    "ToFloat",
    "PadTo",
    "SubtractMean",
    "Normalize",
    "RandomCropFlip",
    "mean_image",
    "channel_stats",
    "random_crop_flip",
    "safe_load",
    "cache_dir",
    "REMOTES",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "ChecksumError",
    "RefusedGlobalError",
]
