"""learnres.data_parallel: a step over k processes is the plain step on the whole batch.

The plain step (one process, ``learnres.train``'s forward, loss, backward, SGD) is checked
against torch elsewhere; here the data-parallel step is checked against it in float64:
after three steps the weights, batch norm's running statistics and the momentum buffers
agree to rounding (the gradients are added in another order), and every worker's copy of
the model is the main process's, bit for bit. Then what goes wrong: a worker that fails or
dies, a loss that is not finite, bad arguments.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal

import numpy as np
import pytest

from learnres import Tensor
from learnres.data_parallel import DataParallel, WorkerError
from learnres.functions.loss import cross_entropy
from learnres.models import resnet
from learnres.nn import init
from learnres.optim import SGD


def _model(seed=0):
    init.manual_seed(seed)
    model = resnet(8).double()  # 3 stages with batch norm, shortcuts A
    return model, SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


def _batches(batch, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((batch, 3, 12, 12)), rng.integers(0, 10, size=batch))
        for _ in range(steps)
    ]


def _plain_step(model, optimizer, images, labels):
    model.train()
    logits = model(Tensor(images))
    loss = cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.data), int((logits.data.argmax(axis=1) != labels).sum())


def _workers_alive() -> list:
    return [p for p in multiprocessing.active_children() if p.name.startswith("learnres-data")]


def _state(model) -> dict:
    return {k: np.array(v) for k, v in model.state_dict().items()}


def _weights(state: dict) -> dict:
    """The parameters of a state_dict (batch norm's buffers have seen any forward pass)."""
    return {k: v for k, v in state.items() if "running" not in k and "num_batches" not in k}


@pytest.mark.parametrize("processes, batch", [(2, 8), (3, 10)])  # 10 = 3 + 3 + 4 images
def test_a_step_is_the_plain_step_and_the_copies_stay_identical(processes, batch):
    plain, plain_opt = _model()
    model, optimizer = _model()
    with DataParallel(model, optimizer, processes) as dp:
        for images, labels in _batches(batch):
            loss, wrong = dp.step(images, labels)
            plain_loss, plain_wrong = _plain_step(plain, plain_opt, images, labels)
            assert loss == pytest.approx(plain_loss, rel=1e-12)
            assert wrong == plain_wrong
        ours, theirs = _state(model), _state(plain)
        assert ours.keys() == theirs.keys()
        for key in ours:  # parameters and batch norm's running statistics
            np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, atol=1e-12, err_msg=key)
        for i, s in plain_opt.state.items():
            np.testing.assert_allclose(
                optimizer.state[i]["momentum_buffer"], s["momentum_buffer"], rtol=1e-10, atol=1e-12
            )
        for rank in range(1, processes):
            worker = dp.worker_state(rank)
            for key in ours:
                np.testing.assert_array_equal(worker[key], ours[key], err_msg=f"{rank}: {key}")
        assert len(_workers_alive()) == processes - 1
    assert _workers_alive() == []  # closed with the block


def test_the_learning_rate_travels_with_each_step():
    plain, plain_opt = _model()
    model, optimizer = _model()
    with DataParallel(model, optimizer, 2) as dp:
        for lr, (images, labels) in zip([0.1, 0.01, 0.5], _batches(8)):
            for group in optimizer.param_groups + plain_opt.param_groups:
                group["lr"] = lr
            dp.step(images, labels)
            _plain_step(plain, plain_opt, images, labels)
        worker, ours, theirs = dp.worker_state(1), _state(model), _state(plain)
    for key in ours:
        np.testing.assert_array_equal(worker[key], ours[key], err_msg=key)
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, atol=1e-12, err_msg=key)


def test_a_worker_that_fails_is_reported_with_its_traceback_and_closes_the_group():
    model, optimizer = _model()
    (images, labels), _, _ = _batches(8)
    labels[-1] = 99  # a class the model does not have, in the worker's half only
    dp = DataParallel(model, optimizer, 2)
    before = _state(model)
    with pytest.raises(WorkerError, match="process 1 of the data-parallel step failed") as error:
        dp.step(images, labels)
    assert "Traceback" in str(error.value) and "labels must lie in [0, 10)" in str(error.value)
    for key, value in _weights(_state(model)).items():  # nothing was updated
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    with pytest.raises(WorkerError, match="closed"):
        dp.step(images, labels % 10)
    assert _workers_alive() == []


def test_a_worker_that_dies_is_reported():
    model, optimizer = _model()
    (images, labels), (images2, labels2), _ = _batches(8)
    dp = DataParallel(model, optimizer, 2)
    dp.step(images, labels)
    worker = dp._workers[0]
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    with pytest.raises(WorkerError, match="process 1 of the data-parallel step died"):
        dp.step(images2, labels2)
    with pytest.raises(WorkerError, match="closed"):
        dp.step(images2, labels2)


def test_a_loss_that_is_not_finite_updates_nothing_in_any_process():
    model, optimizer = _model()
    (images, labels), (images2, labels2), _ = _batches(8)
    with DataParallel(model, optimizer, 2) as dp:
        dp.step(images, labels)
        before, before_worker = _state(model), dp.worker_state(1)
        images2[-1, 0, 0, 0] = np.nan  # in the worker's half
        loss, wrong = dp.step(images2, labels2)
        assert math.isnan(loss) and wrong is None
        after, after_worker = _state(model), dp.worker_state(1)
        for key in _weights(before):
            np.testing.assert_array_equal(after[key], before[key], err_msg=key)
            np.testing.assert_array_equal(after_worker[key], before_worker[key], err_msg=key)
        dp.step(images, labels)  # the group is still usable


@pytest.mark.parametrize("processes", [0, -1, 1.5, True, "2"])
def test_bad_process_counts_are_refused(processes):
    model, optimizer = _model()
    with pytest.raises(ValueError, match="processes must be an int >= 1"):
        DataParallel(model, optimizer, processes)


def test_a_batch_smaller_than_the_processes_is_refused():
    model, optimizer = _model()
    with DataParallel(model, optimizer, 3) as dp:
        images, labels = _batches(2)[0]
        with pytest.raises(ValueError, match="expected at least 3 images .* got 2 images"):
            dp.step(images, labels)
        with pytest.raises(ValueError, match="got 2 images and 1 labels"):
            dp.step(images, labels[:1])


def test_one_process_is_the_plain_step_in_this_process():
    plain, plain_opt = _model()
    model, optimizer = _model()
    with DataParallel(model, optimizer, 1) as dp:
        for images, labels in _batches(4):
            dp.step(images, labels)
            _plain_step(plain, plain_opt, images, labels)
        assert _workers_alive() == []
    for key, value in _state(model).items():
        np.testing.assert_allclose(value, _state(plain)[key], rtol=1e-12, atol=1e-14)


def test_processes_whose_graphs_differ_are_stopped_not_summed(monkeypatch):
    """Were the main process's batch norm not synchronised, its all-reduces would pair with
    the worker's batch norm sums: refused by their sizes, not added up."""
    import contextlib

    from learnres import parallel

    model, optimizer = _model()
    (images, labels), _, _ = _batches(8)
    dp = DataParallel(model, optimizer, 2)
    dp.step(images, labels)  # the worker now runs with its batch norm synchronised
    monkeypatch.setattr(parallel, "process_group", lambda group: contextlib.nullcontext())
    with pytest.raises(WorkerError, match="process 1 of the data-parallel step is out of step"):
        dp.step(images, labels)
    assert _workers_alive() == []


def test_worker_state_needs_a_running_worker():
    model, optimizer = _model()
    dp = DataParallel(model, optimizer, 2)
    with pytest.raises(ValueError, match="no running worker 1"):
        dp.worker_state(1)  # not started: the workers start at the first step
