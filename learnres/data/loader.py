"""``DataLoader``: seeded shuffling, batching, per-batch transforms, device transfer, prefetch.

One pass of ``for images, labels in loader`` is one epoch (or the rest of one: see below).
Each batch is a pair of arrays on ``device`` (NumPy for "cpu", CuPy for "cuda"): the
transformed images and int64 labels (B,). The loader returns plain arrays; the training loop
wraps them in ``Tensor``.

Randomness comes from two ``numpy.random.Generator`` streams spawned from ``seed``: one draws
each epoch's permutation, the other is handed to ``transform(images, rng)`` batch after batch
(random crops and flips). Keeping them apart means that changing the augmentation does not
change the order of the images.

Resuming. The loader remembers the epoch, the number of batches of it already handed out
(``position``), the shuffle stream's state at the start of the epoch (which redraws the
epoch's permutation) and the augmentation stream's state after the last batch handed out.
``state_dict()`` returns these (plain ints, strs and dicts: JSON-serialisable);
``load_state_dict`` on a loader built with the same data and arguments continues with
exactly the batches the first one would have given next. Iteration itself resumes too:
breaking out of a ``for`` loop and starting another continues the same epoch where it
stopped; a new epoch begins once the previous one is used up.

Prefetch. With ``prefetch=True`` a background thread prepares the next batches (gather,
transform, transfer) while the caller trains on the current one; a queue of ``prefetch_depth``
batches connects them. The thread draws from its own copy of the augmentation stream and
sends each batch with the stream's state after it, so results are identical with and without
prefetch. An exception in the thread is re-raised in the consumer; stopping early (``break``)
stops and joins the thread.
"""

from __future__ import annotations

import copy
import math
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from learnres.backend import to_device

__all__ = ["DataLoader"]


# The bit generators a saved random stream may name. An explicit list: a name from a file
# is never looked up in ``np.random`` (where "seed" would reseed NumPy's global state).
BIT_GENERATORS = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}


def _generator(state: dict) -> np.random.Generator:
    """A Generator whose bit generator has ``state`` (from ``bit_generator.state``).

    Raises ValueError when ``state`` is not the state of one of ``BIT_GENERATORS``.
    """
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if not isinstance(name, str) or name not in BIT_GENERATORS:
        raise ValueError(
            f"a random stream's state must name one of NumPy's bit generators "
            f"({', '.join(BIT_GENERATORS)}), got {name!r}"
        )
    bit_generator = BIT_GENERATORS[name]()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise ValueError(f"not a valid {name} state ({type(e).__name__}: {e})") from e
    if not _same_state(bit_generator.state, state):  # NumPy truncates or ignores some values
        raise ValueError(f"not a valid {name} state (unknown keys, or values out of range)")
    return np.random.Generator(bit_generator)


def _same_state(a, b) -> bool:
    """``a == b`` for nested dicts of numbers, strings and arrays (a random stream's state)."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same_state(a[k], b[k]) for k in a)
        )
    if isinstance(a, (np.ndarray, list)) or isinstance(b, (np.ndarray, list)):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype.kind in "iub" and b.dtype.kind in "iub" and np.array_equal(a, b)
    return (
        type(a) is type(b)
        and a == b
        or (
            isinstance(a, (int, np.integer))
            and isinstance(b, (int, np.integer))
            and not isinstance(b, bool)
            and int(a) == int(b)
        )
    )


_ITEM, _END, _ERROR = "item", "end", "error"


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; True when it went in."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _prefetched(source: Iterator, depth: int, name: str) -> Iterator:
    """Run ``source`` in a background thread, ``depth`` items ahead of the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work():
        try:
            for item in source:
                if not _put(q, (_ITEM, item), stop):
                    return
            _put(q, (_END, None), stop)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            _put(q, (_ERROR, e), stop)
        finally:
            source.close()  # the generator belongs to this thread: close it here

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:  # normal end, exception, or the consumer stopped early (GeneratorExit)
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()  # make room so a blocked put returns
            except queue.Empty:
                pass
            thread.join(timeout=0.05)


class DataLoader:
    """Batches of (images, labels), shuffled each epoch, transformed, on a device.

    Arguments:
        images: array (N, ...) indexed along the first axis (uint8 (N, C, H, W) for images).
        labels: int array (N,).
        batch_size: B, images per batch (the paper: 128).
        shuffle: draw a new permutation every epoch; else the file order.
        drop_last: drop the last batch when it has fewer than B images.
        seed: seeds both random streams (``numpy.random.SeedSequence(seed).spawn(2)``).
        transform: ``transform(images, rng) -> images`` applied to each batch on the CPU
            before the transfer, with the loader's augmentation Generator (e.g. from
            ``transforms.standard_transforms``). None: the raw images.
        device: "cpu" or "cuda"; batches are moved there with ``backend.to_device``.
        prefetch: prepare batches in a background thread.
        prefetch_depth: how many batches the thread may prepare ahead (1 or 2 is enough).

    ``len(loader)`` is the number of batches per epoch: ``ceil(N / B)``, or ``floor(N / B)``
    with ``drop_last``.
    """

    def __init__(
        self,
        images,
        labels,
        batch_size: int = 128,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        transform: Callable[[Any, np.random.Generator], Any] | None = None,
        device: str = "cpu",
        prefetch: bool = True,
        prefetch_depth: int = 2,
    ):
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"expected labels of shape ({len(images)},) for images of shape "
                f"{tuple(images.shape)}, got {labels.shape}"
            )
        if len(labels) == 0:
            raise ValueError("DataLoader got no images (N = 0)")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if drop_last and len(images) < batch_size:
            raise ValueError(
                f"drop_last=True with batch_size={batch_size} and only {len(images)} images "
                f"gives no batches at all"
            )
        to_device(np.zeros(0), device)  # fail now, not in the first batch, if unusable
        self.images, self.labels = images, labels.astype(np.int64, copy=False)
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.seed, self.transform, self.device = int(seed), transform, device
        self.prefetch, self.prefetch_depth = prefetch, max(1, int(prefetch_depth))
        shuffle_seq, augment_seq = np.random.SeedSequence(self.seed).spawn(2)
        self._epoch, self._position = 0, 0
        self._shuffle_state = np.random.PCG64(shuffle_seq).state  # at the start of the epoch
        self._augment_state = np.random.PCG64(augment_seq).state  # after the last batch out

    @classmethod
    def from_dataset(cls, dataset, batch_size: int = 128, **kwargs) -> DataLoader:
        """``DataLoader(dataset.images, dataset.labels, batch_size, **kwargs)``."""
        return cls(dataset.images, dataset.labels, batch_size, **kwargs)

    def __len__(self) -> int:
        n, b = len(self.labels), self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    @property
    def num_samples(self) -> int:
        return len(self.labels)

    @property
    def epoch(self) -> int:
        """Epochs completed (0 during the first)."""
        return self._epoch

    @property
    def position(self) -> int:
        """Batches of the current epoch already handed out."""
        return self._position

    # -- order ------------------------------------------------------------------------------

    def _order(self) -> tuple[np.ndarray, dict]:
        """This epoch's order of the N indices, and the shuffle stream's state after it."""
        if not self.shuffle:
            return np.arange(self.num_samples), self._shuffle_state
        rng = _generator(self._shuffle_state)
        return rng.permutation(self.num_samples), rng.bit_generator.state

    def _next_epoch(self) -> None:
        _, self._shuffle_state = self._order()
        self._epoch, self._position = self._epoch + 1, 0

    # -- state ------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Where the loader stands: epoch, position, both streams' states, and its settings.

        JSON-serialisable (ints, strs, bools, nested dicts). Taken after batch ``k`` of an
        epoch was handed out, it resumes at batch ``k + 1``.
        """
        return {
            "epoch": self._epoch,
            "position": self._position,
            "seed": self.seed,
            "shuffle_rng": copy.deepcopy(self._shuffle_state),
            "augment_rng": copy.deepcopy(self._augment_state),
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()`` of a loader with the same data and settings."""
        for key in ("num_samples", "batch_size", "shuffle", "drop_last"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"cannot resume: the saved loader had {key}={state[key]!r}, this one has "
                    f"{key}={getattr(self, key)!r}"
                )
        if not 0 <= state["position"] <= len(self):
            raise ValueError(f"position {state['position']} outside 0..{len(self)}")
        self._epoch, self._position = int(state["epoch"]), int(state["position"])
        self.seed = int(state["seed"])
        self._shuffle_state = copy.deepcopy(state["shuffle_rng"])
        self._augment_state = copy.deepcopy(state["augment_rng"])
        _generator(self._shuffle_state), _generator(self._augment_state)  # validate both now

    # -- iteration --------------------------------------------------------------------------

    def _batches(self, order: np.ndarray, start: int, augment_state: dict) -> Iterator:
        """Batches ``start..`` of the epoch as (images, labels, augmentation state after)."""
        rng = _generator(augment_state)
        b = self.batch_size
        for k in range(start, len(self)):
            index = order[k * b : (k + 1) * b]
            images, labels = self.images[index], self.labels[index]
            if self.transform is not None:
                images = self.transform(images, rng)
            images, labels = to_device(images, self.device), to_device(labels, self.device)
            yield images, labels, rng.bit_generator.state

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        if self._position >= len(self):  # the previous epoch was used up
            self._next_epoch()
        order, _ = self._order()
        batches = self._batches(order, self._position, self._augment_state)
        if self.prefetch:
            batches = _prefetched(batches, self.prefetch_depth, f"learnres-prefetch-{id(self):x}")
        try:
            for images, labels, augment_state in batches:
                self._position += 1  # handed out: a state_dict taken now resumes after it
                self._augment_state = augment_state
                yield images, labels
        finally:
            batches.close()
        self._next_epoch()  # only reached when the epoch ran to its end

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.num_samples} samples, batch_size={self.batch_size}, "
            f"{len(self)} batches, shuffle={self.shuffle}, drop_last={self.drop_last}, "
            f"seed={self.seed}, device={self.device!r}, prefetch={self.prefetch}, "
            f"transform={self.transform!r})"
        )
