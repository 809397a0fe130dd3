"""DataLoader: batching, seeded shuffling, resuming, prefetch thread, devices."""

from __future__ import annotations

import gc
import json
import threading

import numpy as np
import pytest

from learnres.backend import device_of
from learnres.data import DataLoader, Dataset, standard_transforms


def toy(n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    images = np.arange(n, dtype=np.int64).reshape(n, 1, 1, 1)  # (N, 1, 1, 1): image i holds i
    return images, np.arange(n) % 10


def ids(batch_images) -> list[int]:
    return np.asarray(batch_images).reshape(-1).tolist()


def epoch_ids(loader) -> list[list[int]]:
    return [ids(x) for x, _ in loader]


def noisy(images, rng):
    """A random transform: adds a draw from the loader's generator to every image."""
    return images + rng.integers(0, 1000, size=len(images)).reshape(-1, 1, 1, 1)


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("learnres-prefetch")]


@pytest.mark.parametrize("prefetch", [False, True])
def test_batches_cover_every_sample_once(prefetch):
    images, labels = toy(50)
    loader = DataLoader(images, labels, batch_size=16, seed=0, prefetch=prefetch)
    assert len(loader) == 4
    batches = list(loader)
    assert [len(x) for x, _ in batches] == [16, 16, 16, 2]
    seen = [i for x, _ in batches for i in ids(x)]
    assert sorted(seen) == list(range(50)) and seen != list(range(50))
    for x, y in batches:
        assert y.dtype == np.int64 and (y == np.asarray(ids(x)) % 10).all()


def test_drop_last_and_no_shuffle():
    images, labels = toy(50)
    loader = DataLoader(images, labels, batch_size=16, shuffle=False, drop_last=True)
    assert len(loader) == 3
    assert epoch_ids(loader) == [list(range(16)), list(range(16, 32)), list(range(32, 48))]
    with pytest.raises(ValueError, match="gives no batches"):
        DataLoader(images, labels, batch_size=64, drop_last=True)
    with pytest.raises(ValueError, match=r"labels of shape \(50,\)"):
        DataLoader(images, labels[:-1], batch_size=8)


def test_same_seed_same_order_other_seed_other_order_new_order_each_epoch():
    images, labels = toy(50)
    a = DataLoader(images, labels, 8, seed=1)
    b = DataLoader(images, labels, 8, seed=1)
    c = DataLoader(images, labels, 8, seed=2)
    a1, a2 = epoch_ids(a), epoch_ids(a)
    assert a1 == epoch_ids(b) and a2 == epoch_ids(b)
    assert a1 != epoch_ids(c)
    assert a1 != a2 and a.epoch == 2


def test_prefetch_gives_identical_results():
    images, labels = toy(50)
    runs = []
    for prefetch in (False, True):
        loader = DataLoader(images, labels, 8, seed=5, transform=noisy, prefetch=prefetch)
        runs.append([[ids(x) for x, _ in loader] for _ in range(3)])  # three epochs
    assert runs[0] == runs[1]


@pytest.mark.parametrize("prefetch", [False, True])
@pytest.mark.parametrize("stop_after", [0, 3, 7])  # 7 = the whole first epoch of 7 batches
def test_resume_from_a_state_dict_mid_epoch(prefetch, stop_after):
    images, labels = toy(50)

    def make():
        return DataLoader(images, labels, 8, seed=3, transform=noisy, prefetch=prefetch)

    first = make()
    it = iter(first)
    _ = [next(it) for _ in range(stop_after)]
    state = json.loads(json.dumps(first.state_dict()))  # as a checkpoint would store it
    rest_of_epoch = [ids(x) for x, _ in it]
    next_epoch = epoch_ids(first)
    second = make()
    second.load_state_dict(state)
    resumed = [epoch_ids(second), epoch_ids(second)]
    if stop_after < 7:
        assert len(rest_of_epoch) == 7 - stop_after
        assert resumed == [rest_of_epoch, next_epoch]
    else:  # the saved epoch was used up: the resumed loader starts the next one
        assert rest_of_epoch == [] and resumed[0] == next_epoch


def test_breaking_out_continues_the_same_epoch():
    images, labels = toy(50)
    whole = epoch_ids(DataLoader(images, labels, 8, seed=0, transform=noisy))
    loader = DataLoader(images, labels, 8, seed=0, transform=noisy)
    head = []
    for x, _ in loader:
        head.append(ids(x))
        if len(head) == 2:
            break
    assert loader.position == 2 and loader.epoch == 0
    assert head + epoch_ids(loader) == whole
    assert loader.epoch == 1 and loader.position == 0


def test_load_state_dict_refuses_another_configuration():
    images, labels = toy(50)
    state = DataLoader(images, labels, 8).state_dict()
    with pytest.raises(ValueError, match="batch_size=8, this one has batch_size=16"):
        DataLoader(images, labels, 16).load_state_dict(state)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("prefetch", [False, True])
def test_an_exception_in_the_transform_reaches_the_consumer(prefetch):
    images, labels = toy(50)

    def fails_on_the_third(batch, rng, calls=[]):  # noqa: B006 - counts calls
        calls.append(1)
        if len(calls) == 3:
            raise Boom("third batch")
        return batch

    loader = DataLoader(images, labels, 8, transform=fails_on_the_third, prefetch=prefetch)
    got = []
    with pytest.raises(Boom, match="third batch"):
        for x, _ in loader:
            got.append(x)
    assert len(got) == 2 and loader.position == 2
    gc.collect()
    assert prefetch_threads() == []


def test_stopping_early_stops_the_thread():
    images, labels = toy(500)
    loader = DataLoader(images, labels, 4, transform=noisy, prefetch=True, prefetch_depth=1)
    for _ in loader:
        break
    gc.collect()
    assert prefetch_threads() == []
    it = iter(loader)
    next(it)
    assert len(prefetch_threads()) == 1  # working ahead
    it.close()
    assert prefetch_threads() == []


def test_with_the_paper_transforms_and_from_dataset():
    rng = np.random.default_rng(0)
    ds = Dataset(
        rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8),
        rng.integers(0, 10, 40),
        tuple("abcdefghij"),
        "toy",
    )
    train_tf, _ = standard_transforms(ds)
    loader = DataLoader.from_dataset(ds, 16, transform=train_tf, seed=0)
    x, y = next(iter(loader))
    assert x.shape == (16, 3, 32, 32) and x.dtype == np.float32 and y.shape == (16,)
    assert "16" in repr(loader) and "RandomCropFlip" in repr(loader)


def test_batches_arrive_on_the_device(device):
    images, labels = toy(20)
    loader = DataLoader(images, labels, 8, device=device)
    for x, y in loader:
        assert device_of(x) == device and device_of(y) == device


def test_cuda_without_a_gpu_fails_at_construction(no_gpu):
    images, labels = toy(20)
    with pytest.raises(RuntimeError, match="no GPU is usable"):
        DataLoader(images, labels, 8, device="cuda")


@pytest.mark.parametrize("name", ["seed", "os.system", "default_rng", "RandomState", 7, None])
def test_a_saved_stream_may_name_only_numpys_bit_generators(name):
    """Issue 15, item 9: main called ``getattr(np.random, state["bit_generator"])()``, so a
    checkpoint naming "seed" reseeded NumPy's global state. Only an explicit list of bit
    generators is looked up; nothing else is called."""
    loader = DataLoader(np.zeros((8, 1, 2, 2), np.uint8), np.zeros(8, np.int64), batch_size=2)
    state = loader.state_dict()
    state["shuffle_rng"] = dict(state["shuffle_rng"], bit_generator=name)
    global_state = np.random.get_state()
    with pytest.raises(ValueError, match="must name one of NumPy's bit generators"):
        loader.load_state_dict(state)
    assert all(np.array_equal(a, b) for a, b in zip(global_state, np.random.get_state()))


def test_a_saved_stream_with_values_numpy_would_truncate_is_refused():
    loader = DataLoader(np.zeros((8, 1, 2, 2), np.uint8), np.zeros(8, np.int64), batch_size=2)
    state = loader.state_dict()
    rng = dict(state["augment_rng"], state=dict(state["augment_rng"]["state"], state=1.5))
    with pytest.raises(ValueError, match="not a valid PCG64 state"):
        loader.load_state_dict(dict(state, augment_rng=rng))
