"""An image classification dataset held in memory, and the ways to cut it.

``Dataset`` is two arrays and the class names: ``images`` uint8 (N, C, H, W) exactly as the
files store them (no scaling, no mean subtraction: that is ``learnres.data.transforms``) and
``labels`` int64 (N,). ``split_validation`` holds out the paper's validation set (section
4.2: "45k/5k train/val split"); ``subset`` picks a small, class-balanced part for quick runs.
Both draw with a seeded ``numpy.random.Generator`` and keep the file order inside each part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Dataset",
    "DatasetFormatError",
    "PAPER_VALIDATION_SIZE",
    "split_validation",
    "subset",
]

PAPER_VALIDATION_SIZE = 5000  # section 4.2: 45k training / 5k validation images of CIFAR-10


class DatasetFormatError(ValueError):
    """A dataset file exists but does not hold what its format promises (truncated, corrupt)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images, labels and class names of one split of a dataset.

    Attributes:
        images: uint8 array (N, C, H, W), the pixels as stored (CIFAR: (N, 3, 32, 32),
            Fashion-MNIST: (N, 1, 28, 28)).
        labels: int64 array (N,), values in ``range(len(classes))``.
        classes: class names; ``classes[labels[i]]`` names image ``i``.
        name: the dataset ("cifar10", "cifar100", "fashion-mnist").
        split: "train", "test", "val", ... (free text, for messages and reprs).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str
    split: str = ""

    def __post_init__(self):
        images, labels = self.images, self.labels
        if images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (N, C, H, W), got shape {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"{self.name}: expected labels of shape ({images.shape[0]},) for "
                f"{images.shape[0]} images, got {labels.shape}"
            )
        if labels.dtype != np.int64:
            object.__setattr__(self, "labels", labels.astype(np.int64))
        object.__setattr__(self, "classes", tuple(self.classes))
        if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise ValueError(
                f"{self.name}: labels must lie in [0, {len(self.classes)}), "
                f"got [{labels.min()}, {labels.max()}]"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def class_counts(self) -> np.ndarray:
        """int64 (num_classes,): how many images each class has."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def take(self, indices, split: str | None = None) -> Dataset:
        """A new Dataset with the images at ``indices`` (copies the arrays)."""
        indices = np.asarray(indices, dtype=np.int64)
        return Dataset(
            self.images[indices],
            self.labels[indices],
            self.classes,
            self.name,
            self.split if split is None else split,
        )

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        split = f", split={self.split!r}" if self.split else ""
        return (
            f"Dataset({self.name!r}{split}, {len(self)} images of ({c}, {h}, {w}), "
            f"{self.num_classes} classes)"
        )


def _choose(labels: np.ndarray, n: int, seed: int, stratified: bool) -> np.ndarray:
    """Sorted indices of ``n`` of ``len(labels)`` items, drawn with ``default_rng(seed)``.

    Plain: the first ``n`` of a random permutation. Stratified: class ``k`` with ``count[k]``
    items gets ``floor(n * count[k] / N)`` places, and the places left over go to the
    classes with the largest remainders (ties broken at random), so every class is within
    one item of its exact share; each class fills its places with its first items in the
    random permutation.
    """
    total = len(labels)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(total)
    if not stratified:
        return np.sort(perm[:n])
    counts = np.bincount(labels)
    quota, remainder = np.divmod(n * counts, total)  # exact share = quota + remainder / total
    tie_break = rng.random(len(counts))
    largest_first = np.lexsort((tie_break, -remainder))
    quota[largest_first[: n - quota.sum()]] += 1
    lab = labels[perm]  # labels in random order
    by_class = np.argsort(lab, kind="stable")  # positions in perm, grouped by class
    starts = np.cumsum(counts) - counts  # where each class starts in by_class
    rank = np.empty(total, dtype=np.int64)
    rank[by_class] = np.arange(total) - np.repeat(starts, counts)  # rank within its class
    return np.sort(perm[rank < quota[lab]])


def _count(size: int | float, total: int, maximum: int, what: str) -> int:
    """``size`` as a number of images: an int as is, a float in (0, 1) as a fraction of total."""
    if isinstance(size, float) and not size.is_integer():
        if not 0.0 < size < 1.0:
            raise ValueError(f"{what}: a fraction must lie in (0, 1), got {size}")
        n = int(round(size * total))
    else:
        n = int(size)
    if not 1 <= n <= maximum:
        raise ValueError(
            f"{what}: expected a size in 1..{maximum} for {total} images, got {size} ({n} images)"
        )
    return n


def split_validation(
    dataset: Dataset,
    size: int | float = 0.1,
    seed: int = 0,
    stratified: bool = False,
) -> tuple[Dataset, Dataset]:
    """Hold out a validation set from a training set: ``(train, val)``.

    The paper (section 4.2) trains CIFAR-10 models on 45k images and validates on the other
    5k. The default ``size=0.1`` is that split on the full 50,000 images and scales with
    smaller training sets (508 of the 5,085-image subset); ``size=PAPER_VALIDATION_SIZE``
    (5000) asks for the count itself.

    Arguments:
        dataset: the training split.
        size: images held out; an int is a count, a float in (0, 1) a fraction.
        seed: the validation images are drawn with ``numpy.random.default_rng(seed)``.
        stratified: keep the class proportions in both parts (the paper's split is a plain
            random one, the default).

    Returns:
        ``(train, val)``: disjoint, together all of ``dataset``, each in file order, with
        ``split`` set to "train" and "val".
    """
    n_val = _count(size, len(dataset), len(dataset) - 1, "split_validation")
    val = _choose(dataset.labels, n_val, seed, stratified)
    keep = np.ones(len(dataset), dtype=bool)
    keep[val] = False
    return dataset.take(np.flatnonzero(keep), split="train"), dataset.take(val, split="val")


def subset(dataset: Dataset, n: int | float, seed: int = 0, stratified: bool = True) -> Dataset:
    """``n`` images of ``dataset`` for quick runs, drawn with ``default_rng(seed)``.

    Stratified by default: every class keeps its share ``n * count[class] / N`` to within
    one image, so ``subset(train, 1000)`` of CIFAR-10 has 100 images of each class. With
    ``stratified=False`` the images are a plain random draw. The images keep their file
    order.

    Arguments:
        dataset: any split.
        n: how many images; an int is a count (at most ``len(dataset)``), a float in (0, 1)
            a fraction.
        seed: seed of the draw.
        stratified: keep the class proportions.
    """
    count = _count(n, len(dataset), len(dataset), "subset")
    return dataset.take(_choose(dataset.labels, count, seed, stratified))
