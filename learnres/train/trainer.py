"""The training loop: SGD steps, logging windows, evaluations, checkpoints, interruptions.

One iteration (section 3.4 of the paper) is one mini-batch:

    lr     = schedule.apply(optimizer, iteration)       # the schedule counts iterations
    logits = model(x)                                    # (B, num_classes)
    loss   = cross_entropy(logits, y)                    # mean over the batch
    optimizer.zero_grad(); loss.backward(); optimizer.step()

``Trainer`` runs these for ``iterations`` steps and around them keeps the metrics history
(training loss and error per logging window of ``log_every`` steps, validation and test
loss and error every ``eval_every`` steps, learning rate, images/s), shows a ``tqdm``
progress bar, and writes into its run folder:

    metrics.csv      the history (learnres.train.metrics), rewritten at every log
    checkpoint.npz   every ``checkpoint_every`` steps and at the end (learnres.train.checkpoint)
    plot.png         the Fig. 6-style curves, at the end (needs matplotlib)

What can go wrong, and what happens:

* **Resume.** ``load_checkpoint`` restores the model, the optimizer's momentum buffers, the
  schedule, the data loader (epoch, position in the epoch, both random streams), the
  history and the current logging window. The run then continues to the same result as a
  run that was never stopped: on NumPy, bit for bit.
* **Divergence.** A NaN or infinite loss stops the run with ``TrainingDiverged`` naming the
  iteration and learning rate; the last good checkpoint is left as it was. On the CPU it
  stops before the step that would apply that loss's gradient. On a GPU the loss is not
  read back every step (see below), so the run stops at the next read-back, at the latest
  at the end of the logging window. Weights can overflow while the loss is still finite (a
  BatchNorm variance reaching infinity, say): a checkpoint about to be written with a
  non-finite array stops the run the same way, so a checkpoint only ever holds finite
  weights.
* **A bad checkpoint.** Resuming checks the whole state first
  (``learnres.train.state_check``: dtypes, shapes, finite values, variances >= 0, known
  names, an int iteration in range, a positive learning rate, known bit generators) and
  refuses it with ``CheckpointError`` before anything is restored.
* **No waiting for the GPU inside a step.** Reading a value back from a GPU makes the host
  wait until the GPU has caught up (a synchronisation), which leaves the GPU idle while
  Python prepares the next step. ``train_step`` therefore returns the loss and the number of
  errors as arrays on the device; the trainer adds them up there and reads the sums back
  once per logging window (and before an evaluation or a checkpoint). On the CPU reading is
  free and happens every step. The warm-up schedule needs each step's error and reads it
  every step until the warm-up ends.
* **Ctrl-C.** The first Ctrl-C asks the loop to stop after the current step; the run then
  saves a checkpoint and returns (``status == "interrupted"``). A ``KeyboardInterrupt``
  raised by a callback (which runs between steps) does the same. A second Ctrl-C aborts
  at once and keeps the previous checkpoint, since a half-done step cannot be saved.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from learnres.autograd.grad_mode import no_grad
from learnres.autograd.tensor import Tensor
from learnres.backend import asnumpy, get_array_module
from learnres.functions.loss import cross_entropy
from learnres.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    nonfinite_entries,
    save_checkpoint,
)
from learnres.train.metrics import MetricsHistory, evaluation_line
from learnres.train.plot import matplotlib_problem, plot_history
from learnres.train.state_check import check_trainer_state

__all__ = [
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "PLOT_NAME",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "evaluate",
]

CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.csv"
PLOT_NAME = "plot.png"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; ``iteration`` and ``lr`` say where."""

    def __init__(self, message: str, iteration: int, lr: float, loss: float):
        super().__init__(message)
        self.iteration, self.lr, self.loss = iteration, lr, loss


@dataclass
class TrainResult:
    """What a ``Trainer.fit`` call ended with.

    ``status`` is "completed" or "interrupted"; ``final`` holds the last measured
    ``train_error``, ``val_error``, ``test_error`` (percent) and losses.
    """

    status: str
    iteration: int
    history: MetricsHistory
    final: dict = field(default_factory=dict)
    checkpoint: Path | None = None
    out_dir: Path | None = None


def evaluate(model, loader, dtype=None) -> tuple[float, float]:
    """Mean cross-entropy and error (percent) of ``model`` over one pass of ``loader``.

    The model runs in eval mode (BatchNorm with its running statistics) and without a
    graph; its previous mode is restored. Images are cast to ``dtype`` (default: the
    model's parameters' dtype). The sums stay on the model's device until the pass is done
    (one read-back on a GPU).
    """
    dtype = dtype or model.dtype
    was_training = model.training
    model.eval()
    loss_sum, wrong, seen = 0.0, 0, 0  # become 0-d arrays on the device after the first batch
    try:
        with no_grad():
            for images, labels in loader:
                n = int(labels.shape[0])
                if n == 0:  # an empty batch adds nothing (its mean loss would be NaN)
                    continue
                x = Tensor(images.astype(dtype, copy=False) if dtype is not None else images)
                logits = model(x)
                loss = cross_entropy(logits, labels).data.astype(np.float64)  # exact, as float()
                loss_sum = loss_sum + loss * n
                wrong = wrong + (logits.data.argmax(axis=1) != labels).sum()
                seen += n
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError(
            "evaluate: expected at least one image to evaluate on, the loader gave none "
            "(an empty dataset or split?)"
        )
    loss_sum, wrong = (float(v) for v in asnumpy(get_array_module(wrong).stack([loss_sum, wrong])))
    return loss_sum / seen, 100.0 * wrong / seen


class _CtrlC:
    """What a Ctrl-C (SIGINT, or a ``KeyboardInterrupt``) means for a running ``fit``.

    * The first Ctrl-C sets ``requested``: the loop stops after the current step, and the
      run saves a checkpoint and returns "interrupted". The previous SIGINT handler is put
      back at once, so that the next Ctrl-C raises ``KeyboardInterrupt``.
    * A ``KeyboardInterrupt`` raised between steps (a callback's, or a second Ctrl-C while
      a batch is fetched, evaluated or saved) is taken as the same request: ``__exit__``
      swallows it and sets ``requested``.
    * A ``KeyboardInterrupt`` raised inside a step (``with ctrl_c.inside_step():``, a
      second Ctrl-C) leaves the model half-updated, which cannot be saved: ``__exit__``
      says so (``abort_message()``) and lets it through.

    The handler is installed only in the main thread (the only one Python sends signals to).
    """

    def __init__(self, say, abort_message):
        self.requested = False
        self.in_step = False
        self._say, self._abort_message = say, abort_message
        self._installed = False
        self._previous = signal.default_int_handler

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            self._previous = previous if previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum, frame):
        self.requested = True
        self._say(
            "Ctrl-C: stopping after this iteration and saving a checkpoint "
            "(press Ctrl-C again to abort without saving)"
        )
        signal.signal(signal.SIGINT, self._previous)  # the next Ctrl-C interrupts at once

    @contextlib.contextmanager
    def inside_step(self):
        """Marks a step in progress: from here until its counters have moved, a stop is unsafe."""
        self.in_step = True
        yield  # an exception leaves in_step set: __exit__ then knows it came from a step
        self.in_step = False

    def __exit__(self, kind, error, traceback) -> bool:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
        if kind is None or not issubclass(kind, KeyboardInterrupt):
            return False
        if self.in_step:  # a second Ctrl-C inside a step: nothing safe to save
            self._say(self._abort_message())
            return False
        self.requested = True  # raised between steps: save and stop
        return True


class Trainer:
    """Trains ``model`` with ``optimizer`` and ``schedule`` on batches from ``train_loader``.

    Arguments:
        model: a ``learnres.nn.Module`` returning logits (B, num_classes).
        optimizer: ``learnres.optim.SGD`` (or anything with ``param_groups``, ``step``,
            ``zero_grad``, ``state_dict``, ``load_state_dict``).
        schedule: a ``learnres.optim.Schedule``.
        train_loader: a ``learnres.data.DataLoader`` (or any re-iterable of
            (images (B, C, H, W), int labels (B,)) arrays with ``state_dict``); iterating it
            again continues where the last pass stopped.
        iterations: total optimizer steps of the run.
        eval_loaders: ``{"val": loader, "test": loader}`` (either may be absent), evaluated
            every ``eval_every`` steps and at the end.
        out_dir: the run folder (metrics.csv, checkpoint.npz, plot.png); None writes nothing.
        log_every: steps per logging window (training loss and error are window means).
        eval_every: steps between evaluations (None: only at the end).
        checkpoint_every: steps between checkpoints (None: only at the end).
        callbacks: ``callback(trainer)`` called after every completed step (tests, notebooks).
        progress: show a tqdm bar.
        config: a JSON-serialisable dict describing the run, saved in every checkpoint.
        plot: write plot.png at the end.
        processes: split every batch over this many processes (``learnres.data_parallel``:
            the same step, 1.2-1.3x faster than two threads on two cores); CPU only.

    ``iteration`` counts completed steps; ``history`` is the ``MetricsHistory``.
    """

    def __init__(
        self,
        model,
        optimizer,
        schedule,
        train_loader,
        iterations: int,
        *,
        eval_loaders: dict | None = None,
        out_dir=None,
        log_every: int = 100,
        eval_every: int | None = None,
        checkpoint_every: int | None = None,
        callbacks=(),
        progress: bool = True,
        config: dict | None = None,
        plot: bool = True,
        processes: int = 1,
    ):
        if int(iterations) < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        for name, value in (
            ("log_every", log_every),
            ("eval_every", eval_every),
            ("checkpoint_every", checkpoint_every),
        ):
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1 (or None), got {value}")
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.train_loader = train_loader
        self.iterations = int(iterations)
        self.eval_loaders = dict(eval_loaders or {})
        self._eval_start = {
            k: v.state_dict() for k, v in self.eval_loaders.items() if hasattr(v, "state_dict")
        }
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.log_every = int(log_every)
        self.eval_every = eval_every and int(eval_every)
        self.checkpoint_every = checkpoint_every and int(checkpoint_every)
        self.callbacks = list(callbacks)
        self.progress = progress
        self.config = dict(config or {})
        self.plot = plot
        self.processes = int(processes)
        if self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        self._data_parallel = None  # a DataParallel, started at the first step of fit()
        self.dtype = model.dtype
        self.iteration = 0
        self.history = MetricsHistory()
        self.elapsed = 0.0  # seconds of training, summed over resumed sessions
        self._window = self._empty_window()
        self._device_sums = None  # (loss sum, errors) of the steps not yet read back, or None
        self._read_from = 0  # the first iteration whose loss is not read back yet
        self._on_host = True  # whether the last step ran on the CPU (reading back is free)
        self._bar = None
        self._last_checkpoint_iteration: int | None = None
        self._step_started = 0.0  # time.perf_counter() when the current step began

    # ---- paths ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    @staticmethod
    def _empty_window() -> dict:
        return {"steps": 0, "loss_sum": 0.0, "wrong": 0, "seen": 0, "seconds": 0.0}

    # ---- one step ------------------------------------------------------------------------
    def train_step(self, images, labels):
        """One SGD step on a batch; returns (mean loss, number of wrong predictions) as 0-d
        arrays on the batch's device.

        Nothing is read back from a GPU here. On the CPU, where reading is free, a loss that
        is not finite raises ``TrainingDiverged`` before any update (only BatchNorm's running
        statistics have seen that forward pass); on a GPU the trainer finds it at the next
        read-back.
        """
        lr = self.schedule.apply(self.optimizer, self.iteration)
        self.model.train()
        if self.processes > 1:
            return self._data_parallel_step(images, labels, lr)
        x = Tensor(images.astype(self.dtype, copy=False) if self.dtype is not None else images)
        logits = self.model(x)  # (B, num_classes)
        loss = cross_entropy(logits, labels)
        self._on_host = get_array_module(loss.data) is np
        if self._on_host and not math.isfinite(value := float(loss.data)):
            raise TrainingDiverged(self._divergence_message(value, lr), self.iteration, lr, value)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        wrong = (logits.data.argmax(axis=1) != labels).sum()
        return loss.data, wrong

    def _data_parallel_step(self, images, labels, lr):
        """``train_step`` over ``processes`` processes; a loss that is not finite has
        updated nothing in any of them."""
        from learnres.data_parallel import DataParallel

        if self._data_parallel is None:
            self._data_parallel = DataParallel(self.model, self.optimizer, self.processes)
        images = images.astype(self.dtype, copy=False) if self.dtype is not None else images
        loss, wrong = self._data_parallel.step(images, labels)
        if not math.isfinite(loss):
            raise TrainingDiverged(self._divergence_message(loss, lr), self.iteration, lr, loss)
        return np.asarray(loss), np.asarray(wrong)

    def _abort_message(self) -> str:
        if self._last_checkpoint_iteration is not None:
            kept = (
                f"the checkpoint of iteration {self._last_checkpoint_iteration} "
                f"({self.checkpoint_path}) is kept"
            )
        else:
            kept = "no checkpoint had been written"
        return (
            f"aborted in the middle of iteration {self.iteration + 1}; a half-done step "
            f"cannot be saved, so {kept}"
        )

    def _divergence_message(self, value: float, lr: float, since: int | None = None) -> str:
        if self._last_checkpoint_iteration is not None:
            kept = (
                f"the last good checkpoint, {self.checkpoint_path} (iteration "
                f"{self._last_checkpoint_iteration}), is kept"
            )
        else:
            kept = "no checkpoint had been written yet"
        if since is None:
            where = f"at iteration {self.iteration} (learning rate {lr:g}); stopped before "
            where += "applying that step"
        else:  # found at a read-back from the GPU
            where = (
                f"at iteration {self.iteration} (learning rate {lr:g}): the loss summed "
                f"over iterations {since + 1}..{self.iteration} is not finite (the GPU's "
                "loss is read back once per logging window); stopped there"
            )
        return (
            f"training diverged: the loss is {value} {where}, {kept}. "
            "Try a smaller --lr, or --schedule warmup (the paper's remedy for ResNet-110)."
        )

    # ---- the loop ------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train until ``iterations`` steps are done (or Ctrl-C); evaluate, save, plot.

        Per batch: ``train_step``, counted in the logging window (``_count_step``); a log
        line, an evaluation and a checkpoint when they are due (``_after_step``); the
        callbacks. Around the loop: the progress bar, metrics.csv written when
        ``TrainingDiverged`` passes through, and Ctrl-C (``_CtrlC``: between steps, save and
        stop; inside a step, abort). After it, ``_finish_run``: the last evaluation,
        checkpoint, metrics.csv and plot.png.
        """
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self._bar = self._progress_bar()
        with self._bar, self._metrics_written_if_diverged(), self._ctrl_c() as ctrl_c:
            try:
                for images, labels in self._batches(ctrl_c):
                    with ctrl_c.inside_step():  # a Ctrl-C in here aborts the run
                        loss, wrong = self.train_step(images, labels)
                        self._count_step(loss, wrong, batch=int(labels.shape[0]))
                    self._after_step()  # log, evaluate, checkpoint when due
                    for callback in self.callbacks:
                        callback(self)
            finally:  # the workers of a data-parallel run end with the loop
                if self._data_parallel is not None:
                    self._data_parallel.close()
                    self._data_parallel = None
        interrupted = ctrl_c.requested and self.iteration < self.iterations
        return self._finish_run("interrupted" if interrupted else "completed")

    def _progress_bar(self) -> tqdm:
        return tqdm(
            total=self.iterations,
            initial=self.iteration,
            desc="train",
            unit="it",
            dynamic_ncols=True,
            disable=not self.progress,
        )

    def _ctrl_c(self) -> _CtrlC:
        return _CtrlC(say=self._say, abort_message=self._abort_message)

    @contextlib.contextmanager
    def _metrics_written_if_diverged(self):
        """On ``TrainingDiverged``, write metrics.csv (the history up to the divergence) and
        let the error through."""
        try:
            yield
        except TrainingDiverged:
            self._write_metrics()
            raise

    def _batches(self, ctrl_c: _CtrlC):
        """The training batches until ``iterations`` steps are done or Ctrl-C asked to stop.

        One pass over ``train_loader`` is one epoch; iterating it again continues where the
        last pass stopped. Also starts each step's clock (``_step_started``), so that a
        step's time includes fetching its batch.
        """
        while self.iteration < self.iterations and not ctrl_c.requested:
            start = self.iteration
            self._step_started = time.perf_counter()
            for batch in self.train_loader:
                yield batch
                if self.iteration >= self.iterations or ctrl_c.requested:
                    return
                self._step_started = time.perf_counter()
            if self.iteration == start:
                raise ValueError(
                    "the training loader gave no batches: it has no images, or "
                    "fewer than one batch with drop_last"
                )

    def _count_step(self, loss, wrong, batch: int) -> None:
        """Count a finished step: the iteration, the window's sums (on the device), its time;
        the warm-up schedule sees its error (a read-back) while it decides."""
        if self.schedule.observing:  # the warm-up needs every step's error, now
            self.schedule.observe(self.iteration, float(asnumpy(wrong)) / batch)
        self.iteration += 1
        self._add_to_window(loss, wrong)
        seconds = time.perf_counter() - self._step_started
        w = self._window
        w["steps"] += 1
        w["seen"] += batch
        w["seconds"] += seconds
        self.elapsed += seconds

    def _finish_run(self, status: str) -> TrainResult:
        """After the loop. A completed run closes its last logging window and evaluates
        (unless that iteration was evaluated already); any run then saves its checkpoint,
        writes metrics.csv (even when saving fails) and plot.png (once it has a step)."""
        if status == "completed":
            self._finish_window()
            if self.history.last_iteration_of("test_error", "val_error") != self.iteration:
                self._evaluate_all()
        try:
            self._save_if_possible()
        finally:
            self._write_metrics()
        if status == "completed" or self.iteration > 0:
            self._write_plot()
        if status == "interrupted":
            path = self.checkpoint_path
            saved = f"; checkpoint saved to {path}" if path is not None else ""
            self._say(f"interrupted at iteration {self.iteration} of {self.iterations}{saved}")
        return TrainResult(
            status, self.iteration, self.history, self._final(), self.checkpoint_path, self.out_dir
        )

    def _add_to_window(self, loss, wrong) -> None:
        """Add a step's loss and errors to the sums kept on the device (no read-back)."""
        if self._device_sums is None:
            xp = get_array_module(loss)
            self._device_sums = (xp.zeros((), np.float64), xp.zeros((), np.float64))
        loss_sum, wrong_sum = self._device_sums
        loss_sum += loss  # float64 += float32: exact, as Python's float(loss) was
        wrong_sum += wrong

    def _read_back(self) -> None:
        """Move the device sums into the window (on a GPU: one synchronisation).

        Raises ``TrainingDiverged`` when the loss of the steps since the last read-back
        was not finite.
        """
        if self._device_sums is None:
            return
        sums, since = self._device_sums, self._read_from
        self._device_sums, self._read_from = None, self.iteration
        loss_sum, wrong = (float(v) for v in asnumpy(get_array_module(sums[0]).stack(sums)))
        if not math.isfinite(loss_sum):
            lr = self.optimizer.param_groups[0]["lr"]
            message = self._divergence_message(loss_sum, lr, since=since)
            raise TrainingDiverged(message, self.iteration, lr, loss_sum)
        self._window["loss_sum"] += loss_sum
        self._window["wrong"] += int(wrong)

    def _after_step(self) -> None:
        it, w = self.iteration, self._window
        lr = self.optimizer.param_groups[0]["lr"]
        self._bar.update(1)
        evaluate = self.eval_every and it % self.eval_every == 0 and it < self.iterations
        save = self.checkpoint_every and it % self.checkpoint_every == 0 and it < self.iterations
        if self._on_host or it % self.log_every == 0 or evaluate or save:
            self._read_back()  # on a GPU, the one synchronisation of a logging window
            live = {  # means over the current logging window (a dict keeps this order)
                "loss": f"{w['loss_sum'] / w['steps']:.3f}",
                "err": f"{100.0 * w['wrong'] / w['seen']:.1f}%",
                "lr": f"{lr:g}",
                "img/s": f"{w['seen'] / max(w['seconds'], 1e-9):.0f}",
            }
            self._bar.set_postfix(live, refresh=False)
        if it % self.log_every == 0:
            self._finish_window()
        if evaluate:
            self._evaluate_all()
        if save:
            self._save_if_possible()
        if it % self.log_every == 0 or evaluate:
            self._write_metrics()

    def _finish_window(self) -> None:
        self._read_back()
        w = self._window
        if w["steps"] == 0:
            return
        self.history.record(
            self.iteration,
            epoch=self._epoch(),
            lr=self.optimizer.param_groups[0]["lr"],
            train_loss=w["loss_sum"] / w["steps"],
            train_error=100.0 * w["wrong"] / w["seen"],
            images_per_s=w["seen"] / max(w["seconds"], 1e-9),
            elapsed_s=self.elapsed,
        )
        self._window = self._empty_window()

    def _epoch(self) -> float:
        """Epochs done, as a fraction (iterations per epoch from the loader's length)."""
        try:
            return self.iteration / len(self.train_loader)
        except TypeError:
            return float("nan")

    def _evaluate_all(self) -> None:
        values = {}
        for name, loader in self.eval_loaders.items():
            if name in self._eval_start:  # a full pass from the start, whatever came before
                loader.load_state_dict(self._eval_start[name])
            loss, error = evaluate(self.model, loader, self.dtype)
            values[f"{name}_loss"], values[f"{name}_error"] = loss, error
        if values:
            self.history.record(self.iteration, **values)
            self._say(evaluation_line(self.iteration, values))

    def _final(self) -> dict:
        keys = ("train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error")
        return {k: self.history.last(k) for k in keys if self.history.last(k) is not None}

    def _say(self, message: str) -> None:
        if self.progress:
            tqdm.write(message)

    # ---- files ---------------------------------------------------------------------------
    def _write_metrics(self) -> None:
        if self.out_dir is not None:
            self.history.write_csv(self.out_dir / METRICS_NAME)

    def _write_plot(self) -> None:
        if self.out_dir is None or not self.plot or not self.history.rows:
            return
        problem = matplotlib_problem()
        if problem:
            self._say(f"no plot written: {problem}")
            return
        name = self.config.get("model") or self.out_dir.name
        title = f"{name} on {self.config['dataset']}" if "dataset" in self.config else None
        plot_history({name: self.history}, out=self.out_dir / PLOT_NAME, title=title)

    def _save_if_possible(self) -> None:
        """Save a checkpoint of the current state; ``TrainingDiverged`` instead when an
        array of it is not finite (the weights overflowed while the loss stayed finite), so
        the last good checkpoint stays."""
        if self.out_dir is None:
            return
        state = self.state_dict()
        bad = nonfinite_entries(state)
        if bad:
            lr = self.optimizer.param_groups[0]["lr"]
            raise TrainingDiverged(
                self._nonfinite_message(bad, lr), self.iteration, lr, float("nan")
            )
        save_checkpoint(self.checkpoint_path, state)
        self._last_checkpoint_iteration = self.iteration

    def _nonfinite_message(self, names: list[str], lr: float) -> str:
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        if self._last_checkpoint_iteration is not None:
            kept = (
                f"the last good checkpoint, {self.checkpoint_path} (iteration "
                f"{self._last_checkpoint_iteration}), is kept"
            )
        else:
            kept = "no checkpoint had been written yet"
        return (
            f"training diverged: after iteration {self.iteration} (learning rate {lr:g}) "
            f"{len(names)} array(s) hold NaN or infinity ({shown}); not saved, {kept}. "
            "Try a smaller --lr, or --schedule warmup (the paper's remedy for ResNet-110)."
        )

    # ---- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a resumed run needs, as a nested dict of arrays and plain values."""
        self._read_back()  # the window's sums, from the device
        return {
            "iteration": self.iteration,
            "iterations": self.iterations,
            "model": {k: asnumpy(v) for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "loader": self.train_loader.state_dict(),  # epoch, position, both RNG streams
            "window": dict(self._window),
            "history": self.history.state_dict(),
            "elapsed": self.elapsed,
            "config": json.dumps(self.config, sort_keys=True),
        }

    def load_state_dict(self, state: dict, source: str = "checkpoint") -> None:
        """Restore ``state_dict()``; raises ``CheckpointError`` when it does not fit.

        The whole state is checked first (``check_trainer_state``), so a refused state
        changes nothing: not the model, not the optimizer, not the loader.
        """
        check_trainer_state(state, self, source)
        steps = [
            ("model", self.model.load_state_dict),
            ("optimizer", self.optimizer.load_state_dict),
            ("schedule", self.schedule.load_state_dict),
            ("loader", self.train_loader.load_state_dict),
        ]
        for name, load in steps:
            try:
                load(state[name])
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                raise CheckpointError(
                    f"{source} does not fit this run: its {name} state cannot be loaded: {e}"
                ) from e
        self.iteration = int(state["iteration"])
        self.history.load_state_dict(state.get("history", []))
        window = self._empty_window()
        window.update(state.get("window", {}))
        self._window = {k: type(self._empty_window()[k])(v) for k, v in window.items()}
        self.elapsed = float(state.get("elapsed", 0.0))
        self._last_checkpoint_iteration = self.iteration

    def load_checkpoint(self, path=None) -> int:
        """Resume from ``path`` (default: the run folder's checkpoint.npz); returns its iteration.

        Raises ``CheckpointError`` (nothing written, nothing else changed on disk) when the
        file is missing, corrupt or written for another model or data.
        """
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None:
            raise CheckpointError("load_checkpoint: no path given and no out_dir set")
        self.load_state_dict(load_checkpoint(path), source=str(path))
        return self.iteration
