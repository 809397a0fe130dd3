"""One training step in several processes, each on a shard of the batch: the paper's setup.

The paper trains its CIFAR nets "with a mini-batch size of 128 on two GPUs" (section 4.2):
each device computes the forward and backward pass of half the batch, and the gradients
are added. ``DataParallel`` does the same on CPU cores, with processes in place of GPUs:

    dp = DataParallel(model, optimizer, processes=2)
    loss, wrong = dp.step(images, labels)   # = forward, cross-entropy, backward, SGD step
    dp.close()

Why processes and not threads: NumPy lets go of Python's interpreter lock inside a copy or
a matrix product, but every call into NumPy takes it back, and on two threads a ResNet step
makes some thousand such handoffs (``learnres.parallel`` explains the cost). Measured on a
2-core Xeon, ResNet-20 at batch 128: two threads gain 1.35-1.45x over one; two processes,
each with its own interpreter, ~1.9x.

What each of the k processes (rank r = 0 .. k-1; rank 0 is the calling process) does:

1. takes its shard, rows ``B*r//k .. B*(r+1)//k`` of the batch (n_r images);
2. runs the forward pass with *synchronised* batch norm (``learnres.parallel``'s
   ``SyncBatchNorm``): each channel's mean and variance are those of the whole batch, so
   every process normalises exactly as one process would on all B images;
3. takes the loss ``CE(shard) * n_r / B``: the k losses add up to the mean over the batch;
4. runs the backward pass, adds the k gradients (an *all-reduce*), and applies the same
   SGD update to its own copy of the model. Every process reads the same sums, so the
   copies stay identical, bit for bit.

So a step is the plain step of ``learnres.train.Trainer`` on the whole batch, up to the
order in which floats are added. The all-reduce: each process writes its array into its
row of a block of shared memory and tells rank 0 on a pipe how many values it wrote (a
count that differs from rank 0's means the processes' graphs differ: an error, not a wrong
sum); rank 0 adds the rows in rank order and sends a byte back to each. A step makes 3
all-reduces per batch norm layer (2 forward, 1 backward) and 2 more (the loss, then the
gradients); one takes ~17 us, and the time the processes wait for each other there is
a few percent of a step.

The workers are forked (Linux, macOS) at the first step, so they start from the model and
optimizer as they are then (after a checkpoint is loaded); the learning rate and the other
hyper-parameters travel with every step. CPU only: on a GPU the kernels are parallel.
"""

from __future__ import annotations

import math
import mmap
import multiprocessing
import os
import signal
import traceback

import numpy as np

from learnres import parallel
from learnres.autograd.grad_mode import no_grad
from learnres.autograd.tensor import Tensor
from learnres.backend import get_array_module
from learnres.functions.loss import cross_entropy

__all__ = ["DataParallel", "WorkerError", "default_processes"]

_POLLS = 2000  # polls (~1 us each) before waiting asleep for the other processes
_DONE = b"."  # rank 0's message in an all-reduce: "the sum is written"


class WorkerError(RuntimeError):
    """A worker process failed or died; the ``DataParallel`` that owned it is closed."""


def default_processes() -> int:
    """The usable cores, at most 8 (``LEARNRES_NUM_PROCESSES`` overrides it)."""
    env = os.environ.get("LEARNRES_NUM_PROCESSES")
    if env:
        return max(1, int(env))
    return parallel.usable_cores()


# ---- the group: ranks, shared memory, pipes ------------------------------------------------


class _Group:
    """What one process knows of the others: its rank, the shared rows, its pipes.

    ``rows`` (k, S) float64 is shared by all k processes; rank r writes row r, rank 0
    writes the sum into ``total`` (S,). Rank 0 holds one pipe to each worker (``pipes``),
    a worker the one to rank 0.
    """

    def __init__(self, rank: int, size: int, rows, total, pipes: list):
        self.rank, self.size, self.rows, self.total, self.pipes = rank, size, rows, total, pipes

    def all_reduce(self, part) -> np.ndarray:
        """The sum over the k processes of ``part`` (a 1-D array, each its own), in float64.

        Every process gets the same bits: rank 0 adds the rows in rank order, once.
        """
        n = part.size
        if n > self.rows.shape[1]:
            raise ValueError(f"all_reduce: {n} values, the shared rows hold {self.rows.shape[1]}")
        self.rows[self.rank, :n] = part
        if self.rank == 0:
            for r, pipe in enumerate(self.pipes, start=1):
                if (theirs := _receive(pipe, r)) != n:  # the same sum, or the graphs differ
                    raise WorkerError(
                        f"process {r} of the data-parallel step is out of step: it sums "
                        f"{theirs} values where process 0 sums {n}"
                    )
            np.sum(self.rows[:, :n], axis=0, out=self.total[:n])
            for pipe in self.pipes:
                pipe.send_bytes(_DONE)
        else:
            self.pipes[0].send_bytes(str(n).encode())  # "my part of n values is written"
            _receive(self.pipes[0], 0)
        return self.total[:n].copy()  # before anyone can write the next sum


def _receive(pipe, rank: int) -> int:
    """Wait for rank's message: the size of its part (a worker's) or ``_DONE`` (rank 0's,
    returned as 0). A failure report or a closed pipe raises ``WorkerError``.

    It polls for a while before it sleeps: the other process is usually a few microseconds
    away, and waking a sleeping one is dear on a VM (ResNet-20, 2 processes: 13 ms a step
    in all-reduces when it slept at once, 9 ms polling)."""
    try:
        for _ in range(_POLLS):
            if pipe.poll():
                break
        message = pipe.recv_bytes()
    except (EOFError, OSError) as error:
        raise WorkerError(f"process {rank} of the data-parallel step died") from error
    if message == _DONE:
        return 0
    if message.isdigit():
        return int(message)
    raise WorkerError(f"process {rank} of the data-parallel step failed:\n{message.decode()}")


# ---- one process's part of a step --------------------------------------------------------


def _shard(batch: int, rank: int, size: int) -> slice:
    return slice(batch * rank // size, batch * (rank + 1) // size)


def _params(optimizer) -> list:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _local_step(model, optimizer, group: _Group, images, labels, batch: int, hyper: list):
    """This process's part of a step on its shard; returns (mean loss, wrong) of the batch.

    A loss that is not finite (every process sees the same sum) updates nothing.
    """
    for settings, values in zip(optimizer.param_groups, hyper):
        settings.update(values)
    model.train()
    logits = model(Tensor(images))  # (n_r, classes); batch norm synchronised
    loss = cross_entropy(logits, labels) * (len(labels) / batch)  # the k add up to the mean
    batch_loss = group.all_reduce(np.asarray([loss.data], dtype=np.float64))[0]
    if not math.isfinite(batch_loss):
        return batch_loss, None
    optimizer.zero_grad()
    loss.backward()
    params = [p for p in _params(optimizer) if p.grad is not None]  # the same in every process
    wrong = float((logits.data.argmax(axis=1) != labels).sum())
    total = group.all_reduce(np.concatenate([p.grad.ravel() for p in params] + [[wrong]]))
    start = 0
    for p in params:  # in place (SGD's flat buffers); every process gets the same sums
        p.grad[...] = total[start : start + p.grad.size].reshape(p.grad.shape)
        start += p.grad.size
    with no_grad():
        optimizer.step()
    return batch_loss, int(total[-1])


def _worker(rank: int, group: _Group, model, optimizer, threads: int, others: list) -> None:
    """A worker's life: wait for a step's shard on the pipe, do its part, until closed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    for end in others:  # ends inherited from the fork: were they kept, a death would go unseen
        end.close()
    parallel.set_num_threads(threads)
    with parallel.process_group(group):  # batch norm takes the whole batch's statistics
        _serve(model, optimizer, group, threads)


def _serve(model, optimizer, group: _Group, threads: int) -> None:
    pipe = group.pipes[0]
    while True:
        try:
            message = pipe.recv()
        except (EOFError, OSError):  # the main process closed the pipe (or is gone)
            return
        if message[0] == "close":
            return
        try:
            if message[0] == "step":
                with parallel.blas_threads(threads):
                    _local_step(model, optimizer, group, *message[1:])
            elif message[0] == "state":  # for checks: this copy's weights and buffers
                pipe.send({k: np.array(v) for k, v in model.state_dict().items()})
        except BaseException:  # report it where rank 0 waits, then stop
            pipe.send_bytes(traceback.format_exc().encode())
            return


# ---- the driver ----------------------------------------------------------------------------


class DataParallel:
    """Training steps of ``model`` with ``optimizer`` spread over ``processes`` processes.

    Arguments:
        model: a ``learnres.nn.Module`` on the CPU returning logits (B, classes).
        optimizer: its ``learnres.optim.SGD`` (anything with ``param_groups`` and ``step``).
        processes: k, the calling process included (default: ``default_processes()``).
        threads: threads per process for the scheduled ops (default: cores // k, at least 1).

    ``step(images, labels)`` returns (mean loss, wrong predictions) of the batch. A batch
    smaller than k images is an error. ``close()`` (or ``with``) ends the workers; an error
    in any process closes the whole group and raises ``WorkerError``. The workers copy the
    model at the first step: from then on change it only through ``step`` (to load a
    checkpoint, close this and make a new one).
    """

    def __init__(self, model, optimizer, processes: int | None = None, threads: int | None = None):
        k = default_processes() if processes is None else processes
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"DataParallel: processes must be an int >= 1, got {processes!r}")
        if k > 1 and "fork" not in multiprocessing.get_all_start_methods():
            raise RuntimeError(
                "DataParallel: more than one process needs os.fork (Linux, macOS); "
                f"this platform has {multiprocessing.get_all_start_methods()}: use processes=1"
            )
        cores = parallel.usable_cores()
        self.model, self.optimizer, self.processes = model, optimizer, int(k)
        self.threads = threads if threads is not None else max(1, cores // self.processes)
        self._group: _Group | None = None
        self._workers: list = []
        self._closed = False

    def __enter__(self) -> DataParallel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def step(self, images, labels):
        """One SGD step on the batch (images (B, C, H, W), int labels (B,)), k processes."""
        if self._closed:
            raise WorkerError("DataParallel is closed (after close() or an error in a process)")
        if get_array_module(images) is not np:
            raise TypeError("DataParallel runs on the CPU; on a GPU the kernels are parallel")
        images, labels = np.asarray(images), np.asarray(labels)
        batch, k = len(images), self.processes
        if batch < k or len(labels) != batch:
            raise ValueError(
                f"DataParallel.step: expected at least {k} images (one per process) and one "
                f"label each, got {batch} images and {len(labels)} labels"
            )
        if self._group is None:
            self._start()
        hyper = [{h: g[h] for h in g if h != "params"} for g in self.optimizer.param_groups]
        try:
            for r, pipe in enumerate(self._group.pipes, start=1):
                shard = _shard(batch, r, k)
                try:
                    pipe.send(("step", images[shard], labels[shard], batch, hyper))
                except OSError as error:  # its end of the pipe is closed: it is gone
                    raise WorkerError(f"process {r} of the data-parallel step died") from error
            mine = _shard(batch, 0, k)
            with (
                parallel.process_group(self._group),
                parallel.using_threads(self.threads),
                parallel.blas_threads(self.threads),
            ):
                return _local_step(
                    self.model,
                    self.optimizer,
                    self._group,
                    images[mine],
                    labels[mine],
                    batch,
                    hyper,
                )
        except BaseException:
            self.close()  # a worker may wait in an all-reduce that will never complete
            raise

    def worker_state(self, rank: int) -> dict:
        """The state_dict of worker ``rank``'s copy of the model (for checks: they agree)."""
        if self._group is None or self._closed or not 1 <= rank < self.processes:
            raise ValueError(f"worker_state: no running worker {rank!r} (workers: 1..k-1)")
        pipe = self._group.pipes[rank - 1]
        pipe.send(("state",))
        return pipe.recv()

    def close(self) -> None:
        """End the workers (they finish nothing: call between steps). Idempotent."""
        self._closed = True
        for pipe in self._group.pipes if self._group is not None else ():
            try:
                pipe.send(("close",))
            except OSError:
                pass
            pipe.close()
        for worker in self._workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join()
        self._workers = []

    def _start(self) -> None:
        """Fork the k - 1 workers around one block of shared memory."""
        k = self.processes
        size = sum(p.data.size for p in _params(self.optimizer)) + 1 + 4096  # + BN's sums
        shared = mmap.mmap(-1, 8 * (k + 1) * size)  # anonymous, shared with forked children
        block = np.frombuffer(shared, dtype=np.float64).reshape(k + 1, size)
        rows, total = block[:k], block[k]
        context = multiprocessing.get_context("fork")
        pipes = [context.Pipe() for _ in range(k - 1)]
        for rank in range(1, k):
            mine = pipes[rank - 1][1]
            group = _Group(rank, k, rows, total, [mine])
            others = [end for pair in pipes for end in pair if end is not mine]
            worker = context.Process(
                target=_worker,
                args=(rank, group, self.model, self.optimizer, self.threads, others),
                name=f"learnres-data-parallel-{rank}",
                daemon=True,
            )
            worker.start()
            self._workers.append(worker)
        for _, theirs in pipes:
            theirs.close()
        self._group = _Group(0, k, rows, total, [ours for ours, _ in pipes])
