"""The loop's promises: resume gives the same result, Ctrl-C saves, NaN stops, bad files refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from learnres.train import CheckpointError, TrainingDiverged, load_checkpoint, read_csv
from tests.train.helpers import tiny_trainer
from tests.train.tamper import nonfinite

TIMING = {"images_per_s", "elapsed_s"}  # wall-clock columns, the only ones allowed to differ


def _weights(trainer):
    return {k: np.array(v) for k, v in trainer.model.state_dict().items()}


def _momenta(trainer):
    return {i: s["momentum_buffer"].copy() for i, s in trainer.optimizer.state.items()}


def _rows(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history.rows]


def _assert_same_run(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:  # bit for bit: parameters and BatchNorm running statistics
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)
    ma, mb = _momenta(a), _momenta(b)
    assert ma.keys() == mb.keys()
    for i in ma:
        np.testing.assert_array_equal(ma[i], mb[i], err_msg=f"momentum buffer {i}")
    assert _rows(a.history) == _rows(b.history)
    assert a.train_loader.state_dict() == b.train_loader.state_dict()


@pytest.mark.parametrize("split", [6, 7])  # 7: mid logging window and mid epoch (6 batches/epoch)
def test_resume_gives_the_same_result_bit_for_bit(tmp_path, split):
    """Train 14 steps straight vs `split` steps, a new process-like restart, and the rest.

    The restarted Trainer has a *different* initialisation and loader seed, so everything
    that matches was restored from the checkpoint: weights, BN statistics, momentum buffers,
    the schedule (milestones 7 and 10 are crossed after the restart), the loader's epoch,
    position and both random streams (crop/flip and shuffle), the history and the
    half-finished logging window.
    """
    straight = tiny_trainer(tmp_path / "straight", iterations=14)
    assert straight.fit().status == "completed"

    first = tiny_trainer(tmp_path / "split", iterations=14, checkpoint_every=split)

    def stop_at_split(trainer):
        if trainer.iteration == split:
            raise KeyboardInterrupt

    first.callbacks.append(stop_at_split)
    assert first.fit().status == "interrupted"
    second = tiny_trainer(tmp_path / "split", iterations=14, seed=99, model_seed=99)
    assert second.load_checkpoint() == split
    assert second.fit().status == "completed"
    _assert_same_run(straight, second)
    on_disk = read_csv(tmp_path / "split")
    assert [r["iteration"] for r in on_disk.rows] == [r["iteration"] for r in straight.history.rows]


def test_keyboard_interrupt_saves_a_checkpoint_and_resume_continues(tmp_path):
    """A KeyboardInterrupt from a callback at iteration 5 (between steps, like a deferred
    Ctrl-C) saves a checkpoint of iteration 5 even though checkpoint_every=3 would not, and
    the run returns 'interrupted' instead of raising; resuming finishes the run."""
    trainer = tiny_trainer(tmp_path, iterations=10)

    def interrupt(t):
        if t.iteration == 5:
            raise KeyboardInterrupt

    trainer.callbacks.append(interrupt)
    result = trainer.fit()
    assert result.status == "interrupted" and result.iteration == 5
    state = load_checkpoint(tmp_path / "checkpoint.npz")
    assert state["iteration"] == 5
    np.testing.assert_array_equal(
        state["model"]["0.weight"], trainer.model.state_dict()["0.weight"]
    )
    assert state["loader"]["position"] == 5
    assert not list(tmp_path.glob(".*.tmp"))

    resumed = tiny_trainer(tmp_path, iterations=10, model_seed=3)
    assert resumed.load_checkpoint() == 5
    result = resumed.fit()
    assert result.status == "completed" and result.iteration == 10
    assert load_checkpoint(tmp_path / "checkpoint.npz")["iteration"] == 10
    assert (tmp_path / "metrics.csv").is_file()


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_finite_checkpoint(tmp_path):
    """An absurd learning rate (1e6; BatchNorm makes the net scale-invariant, so it takes a few
    dozen steps for the weights to overflow). A BatchNorm running variance reaches infinity
    while the loss is still finite: that state is not saved, the run stops as diverged, and
    the checkpoint on disk is the last one whose every array is finite."""
    trainer = tiny_trainer(tmp_path, iterations=400, lr=1e6, checkpoint_every=1, eval_every=None)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    err = info.value
    assert err.lr == 1e6 and 0 < err.iteration < 200
    message = str(err)
    assert f"iteration {err.iteration}" in message and "learning rate 1e+06" in message
    assert "last good checkpoint" in message
    kept = load_checkpoint(tmp_path / "checkpoint.npz")
    assert nonfinite(kept) == []
    assert kept["iteration"] in (err.iteration - 1, err.iteration)  # every finite state saved
    assert trainer.iteration == err.iteration  # the diverging update was not applied


@pytest.mark.parametrize("processes", [1, 2])
def test_a_nan_loss_stops_before_its_update_and_keeps_that_checkpoint(tmp_path, processes):
    """A NaN loss (here: NaN images from iteration 5 on) stops the run before the update: the
    checkpoint of the last finished iteration equals the model in memory. With 2 processes
    (learnres.data_parallel) neither updated."""
    trainer = tiny_trainer(
        tmp_path, iterations=20, checkpoint_every=1, eval_every=None, processes=processes
    )
    step = trainer.train_step

    def poisoned(images, labels):
        if trainer.iteration >= 5:
            images = np.full(images.shape, np.nan)
        return step(images, labels)

    trainer.train_step = poisoned
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    assert not math.isfinite(info.value.loss) and info.value.iteration == 5
    assert "the loss is nan at iteration 5" in str(info.value)
    kept = load_checkpoint(tmp_path / "checkpoint.npz")
    assert kept["iteration"] == 5
    for key, param in trainer.model.named_parameters():
        np.testing.assert_array_equal(kept["model"][key], param.data, err_msg=key)


def test_refuses_a_truncated_checkpoint_and_overwrites_nothing(tmp_path):
    tiny_trainer(tmp_path, iterations=6).fit()
    path = tmp_path / "checkpoint.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    broken = path.read_bytes()
    trainer = tiny_trainer(tmp_path, iterations=12)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        trainer.load_checkpoint()
    assert path.read_bytes() == broken


def test_refuses_a_checkpoint_of_another_model(tmp_path):
    from learnres import nn
    from learnres.optim import SGD

    tiny_trainer(tmp_path, iterations=3).fit()
    before = (tmp_path / "checkpoint.npz").read_bytes()
    other = tiny_trainer(tmp_path, iterations=6)
    other.model = nn.Sequential(nn.Flatten(), nn.Linear(192, 4)).double()
    other.optimizer = SGD(other.model.parameters(), lr=0.1)
    message = "does not fit this run.*model has unknown entries 0.weight"
    with pytest.raises(CheckpointError, match=message):
        other.load_checkpoint()
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_metrics_history_and_files(tmp_path):
    trainer = tiny_trainer(tmp_path, iterations=8, log_every=3, eval_every=4)
    result = trainer.fit()
    its = [r["iteration"] for r in trainer.history.rows]
    assert its == [3, 4, 6, 8]  # log windows at 3, 6 and the final partial one at 8; evals 4, 8
    rows = {r["iteration"]: r for r in trainer.history.rows}
    assert "train_error" in rows[3] and "test_error" not in rows[3]
    assert "test_error" in rows[4] and "train_error" not in rows[4]
    assert {"train_error", "test_error", "lr", "images_per_s"} <= set(rows[8])
    assert 0 <= result.final["test_error"] <= 100
    assert (tmp_path / "metrics.csv").is_file() and (tmp_path / "checkpoint.npz").is_file()
    assert _rows(read_csv(tmp_path)) == [
        {k: pytest.approx(v, rel=1e-5) for k, v in r.items()} for r in _rows(trainer.history)
    ]


def test_plot_is_written_when_matplotlib_is_there(tmp_path):
    pytest.importorskip("matplotlib")
    tiny_trainer(tmp_path, iterations=4).fit()
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ctrl_c_stops_after_the_current_step_and_saves(tmp_path):
    """A real SIGINT during iteration 4 is deferred: the step finishes, the run saves a
    checkpoint of iteration 4 and returns; the previous SIGINT handler is restored."""
    import signal

    handler = signal.getsignal(signal.SIGINT)
    trainer = tiny_trainer(tmp_path, iterations=10)

    def press_ctrl_c(t):
        if t.iteration == 4:
            signal.raise_signal(signal.SIGINT)

    trainer.callbacks.append(press_ctrl_c)
    result = trainer.fit()
    assert result.status == "interrupted" and result.iteration == 4
    assert load_checkpoint(tmp_path / "checkpoint.npz")["iteration"] == 4
    assert signal.getsignal(signal.SIGINT) is handler


def test_an_interrupt_inside_a_step_keeps_the_previous_checkpoint(tmp_path):
    """A KeyboardInterrupt in the middle of iteration 5 (a second Ctrl-C) cannot be saved
    consistently: fit re-raises it and the checkpoint of iteration 3 stays."""
    trainer = tiny_trainer(tmp_path, iterations=10, checkpoint_every=3)
    step = trainer.train_step

    def interrupted_step(images, labels):
        if trainer.iteration == 4:  # the fifth step
            raise KeyboardInterrupt
        return step(images, labels)

    trainer.train_step = interrupted_step
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert load_checkpoint(tmp_path / "checkpoint.npz")["iteration"] == 3


def test_evaluate_on_no_images_is_a_clear_error_and_empty_batches_add_nothing():
    from learnres.train import evaluate
    from tests.train.helpers import IMAGES, LABELS, tiny_model

    model = tiny_model()
    images, labels = IMAGES[:8].astype(np.float64) / 255, LABELS[:8]
    empty = (images[:0], labels[:0])  # N = 0: a (0, 3, 8, 8) batch
    with pytest.raises(ValueError, match="expected at least one image .* the loader gave none"):
        evaluate(model, [])
    with pytest.raises(ValueError, match="expected at least one image"):
        evaluate(model, [empty])
    loss, error = evaluate(model, [(images, labels)])
    assert math.isfinite(loss) and 0 <= error <= 100
    assert evaluate(model, [empty, (images, labels), empty]) == (loss, error)
    assert model.training  # the mode it came in with


def test_two_processes_train_the_same_run_and_end_with_it(tmp_path):
    """``processes=2`` (learnres.data_parallel) gives the one-process run up to rounding:
    weights, batch norm's statistics, momentum, the logged losses; its worker is gone after
    fit, and the run resumes from its checkpoint like any other."""
    import multiprocessing

    one = tiny_trainer(tmp_path / "one", iterations=8)
    two = tiny_trainer(tmp_path / "two", iterations=8, processes=2)
    assert one.fit().status == two.fit().status == "completed"
    for key, value in _weights(one).items():
        np.testing.assert_allclose(_weights(two)[key], value, rtol=1e-10, atol=1e-12, err_msg=key)
    for i, buffer in _momenta(one).items():
        np.testing.assert_allclose(_momenta(two)[i], buffer, rtol=1e-10, atol=1e-12)
    for a, b in zip(_rows(one.history), _rows(two.history), strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("learnres-data")]
    first = tiny_trainer(tmp_path / "split", iterations=8, checkpoint_every=3, processes=2)

    def stop_at_3(trainer):
        if trainer.iteration == 3:
            raise KeyboardInterrupt

    first.callbacks.append(stop_at_3)
    assert first.fit().status == "interrupted"
    second = tiny_trainer(tmp_path / "split", iterations=8, model_seed=99, processes=2)
    assert second.load_checkpoint() == 3  # the workers start from the loaded weights
    assert second.fit().status == "completed"
    _assert_same_run(two, second)  # bit for bit: the sums are added in the same order


def test_processes_must_be_a_positive_count(tmp_path):
    with pytest.raises(ValueError, match="processes must be >= 1, got 0"):
        tiny_trainer(tmp_path, processes=0)
