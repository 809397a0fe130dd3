"""Grader of exercise 7 (softmax cross-entropy and the training step): the loss against
torch.nn.functional.cross_entropy (float64), then a training step and an evaluation pass on a
small net with batch normalization against the same steps in PyTorch (its twin, same weights).

The step and evaluation tests give your code learnres's own loss (7.1-7.3), so a bug there
costs only the loss's points.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnres.grading.checks import check_close, describe, fail, grade_backward, rand

EXERCISE = "7. Cross-entropy and training"
MODULE = "ex7_training"
LOSS = ("_log_softmax", "CrossEntropy.forward", "CrossEntropy.backward")
NET = {"depth": 4, "width": 8, "in_features": 6, "num_classes": 3}
HYPER = {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}


def _logits(rng, n, c, scale=3.0):
    x = scale * rand(rng, n, c)
    x[0, 1] = 800.0  # exp(800) overflows float64: only a stable version survives this row
    x[1] = -900.0 + rand(rng, c)
    return x


# ---- 7.1 log-softmax ----------------------------------------------------------------------------


def run_log_softmax(module, cases):
    return [module._log_softmax(np.array(x), axis) for x, axis in cases]


def _torch_log_softmax(cases):
    import torch

    return [torch.log_softmax(torch.from_numpy(x), dim=axis).numpy() for x, axis in cases]


@pytest.mark.points(1)
@pytest.mark.timeout(20)
def test_log_softmax(exercise, rng):
    cases = [(_logits(rng, 5, 4), 1), (_logits(rng, 4, 3).T.copy(), 0), (rand(rng, 2, 3, 4), -1)]
    got = exercise.run(run_log_softmax, cases)
    for (x, axis), mine, expected in zip(cases, got, exercise.expect(_torch_log_softmax, cases)):
        what = f"_log_softmax(x of shape {x.shape}, axis={axis})"
        if isinstance(mine, np.ndarray) and mine.shape == x.shape and not np.isfinite(mine).all():
            fail(
                f"{what} is not finite (nan or inf) where a row holds a logit of 800 or all "
                "its logits are near -900: exp overflowed or underflowed. Subtract each "
                "row's largest logit before exp (softmax is unchanged by a shift) and take "
                "the log of the sum, not of each softmax value"
            )
        check_close(what, mine, expected, hint="x - max(x) - log(sum(exp(x - max(x))))")


# ---- 7.2 and 7.3 cross-entropy --------------------------------------------------------------


def run_cross_entropy(module, logits, target):
    f = module.CrossEntropy(np.array(target))
    f.needs_input_grad = (True,)
    return f.forward(np.array(logits))


def _torch_cross_entropy(target):
    def f(logits):
        import torch.nn.functional as F
        from torch import from_numpy

        return F.cross_entropy(logits, from_numpy(np.asarray(target)))

    return f


def _expected_loss(logits, target):
    import torch

    logp = torch.log_softmax(torch.from_numpy(logits), dim=1).numpy()
    picked = -logp[np.arange(len(target)), target]
    return {
        "loss": np.asarray(picked.mean()),
        "diagnoses": [
            ("the SUM over the batch: the loss is the mean over the N examples", picked.sum()),
            ("+log p(target): the loss is -log p(target)", -picked.mean()),
        ],
    }


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_cross_entropy_forward(exercise, rng):
    for n, c in [(6, 4), (3, 10)]:
        logits, target = _logits(rng, n, c), rng.integers(0, c, n)
        got = exercise.run(run_cross_entropy, logits, target, given=("_log_softmax",))
        expected = exercise.expect(_expected_loss, logits, target)
        check_close(
            f"CrossEntropy.forward (logits ({n}, {c})): the loss",
            np.asarray(got) if isinstance(got, (float, np.floating)) else got,
            expected["loss"],
            diagnoses=expected["diagnoses"],
            hint="mean over the batch of -log softmax(logits)[n, target[n]]",
        )


@pytest.mark.points(2)
@pytest.mark.timeout(20)
def test_cross_entropy_backward(exercise, rng):
    for n, c in [(6, 4), (3, 10)]:
        logits, target = _logits(rng, n, c), rng.integers(0, c, n)

        def diagnoses(arrays, gy, target=target):
            (lg,) = arrays
            e = np.exp(lg - lg.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            onehot = np.eye(lg.shape[1])[target]
            return {
                "logits": [
                    (
                        "(softmax - onehot) without the 1/N: the loss is a MEAN over the batch",
                        gy * (p - onehot),
                    ),
                    ("the softmax alone: the -1 at the target class is missing", gy * p / len(p)),
                ]
            }

        grade_backward(
            exercise,
            "CrossEntropy.backward",
            "CrossEntropy",
            (target,),
            [logits],
            ["logits"],
            _torch_cross_entropy(target),
            rng,
            diagnoses=diagnoses,
            hints={"logits": "differentiate -x_t + log sum_j exp(x_j) by each x_i; mean over N"},
            given=("_log_softmax",),
        )


# ---- 7.4 the training step ------------------------------------------------------------------


def _net():
    from learnres.models.cifar import mlp

    return mlp(NET["depth"], NET["width"], False, NET["in_features"], NET["num_classes"])


def _structure():
    return [(n, tuple(p.shape)) for n, p in _net().named_parameters()]


def _load(net, weights, buffers):
    net.double()
    for name, p in net.named_parameters():
        p.data[...] = weights[name]
    for name, b in net.named_buffers():
        if name in buffers:
            b[...] = buffers[name]
    return net


def _batch(rng, n):
    return rand(rng, n, NET["in_features"]), rng.integers(0, NET["num_classes"], n)


def _case(rng, params):
    from learnres.grading.checks import block_weights

    weights = block_weights(rng, params)
    stale = {n: 50.0 * rand(rng, *shape) for n, shape in params}
    batches = [_batch(rng, 8), _batch(rng, 8)]
    return weights, stale, batches


def run_train_step(module, weights, stale, batches, hyper, start_in_eval: bool):
    """Runner: two of your train_steps on learnres's net with ``weights``; the gradients of
    an earlier step (``stale``) are still in p.grad when it starts."""
    from learnres.optim.sgd import SGD

    net = _load(_net(), weights, {})
    if start_in_eval:
        net.eval()
    for name, p in net.named_parameters():
        p.grad = np.array(stale[name])
    optimizer = SGD(net.parameters(), **hyper)
    results = [module.train_step(net, optimizer, np.array(x), np.array(y)) for x, y in batches]
    return {
        "results": results,
        "params": {n: p.data for n, p in net.named_parameters()},
        "buffers": {n: b for n, b in net.named_buffers()},
    }


def _torch_steps(weights, stale, batches, hyper, order="right", mode="train"):
    """The same two steps in PyTorch; ``order``/``mode`` plant the usual mistakes."""
    import torch
    import torch.nn.functional as F

    from learnres.reference.convert import to_torch

    twin = to_torch(_load(_net(), weights, {}), dtype=np.float64)
    twin.train(mode == "train")
    for name, p in twin.named_parameters():
        p.grad = torch.from_numpy(np.array(stale[name]))
    opt = torch.optim.SGD(twin.parameters(), **hyper)
    losses = []
    for x, y in batches:
        logits = twin(torch.from_numpy(x))
        loss = F.cross_entropy(logits, torch.from_numpy(y))
        losses.append(float(loss.detach()))
        if order == "right":
            opt.zero_grad()
            loss.backward()
            opt.step()
        elif order == "no zero_grad":
            loss.backward()
            opt.step()
        elif order == "zero_grad after backward":
            loss.backward()
            opt.zero_grad()
            opt.step()
    params = np.concatenate([p.detach().numpy().ravel() for p in twin.parameters()])
    return {
        "losses": losses,
        "params": params,
        "named": {n: p.detach().numpy() for n, p in twin.named_parameters()},
        "buffers": {n: b.numpy() for n, b in twin.named_buffers() if b.dtype.is_floating_point},
    }


MISTAKES = {
    ("no zero_grad", "train"): "a step without zero_grad: the gradients of the previous step "
    "(still in p.grad) were added to this step's",
    ("zero_grad after backward", "train"): "weights that never moved: the step found no "
    "gradients (zero_grad between backward and step, or step before backward)",
    ("right", "eval"): "the model left in evaluation mode: batch normalization used its running "
    "statistics instead of the batch's (call model.train() first)",
}


def _expected_train(weights, stale, batches, hyper):
    right = _torch_steps(weights, stale, batches, hyper)
    wrong = [
        (label, _torch_steps(weights, stale, batches, hyper, order, mode)["params"])
        for (order, mode), label in MISTAKES.items()
    ]
    return {**right, "diagnoses": wrong}


def _check_train_step(exercise, rng, start_in_eval):
    params = exercise.expect(_structure)
    weights, stale, batches = _case(rng, params)
    got = exercise.run(run_train_step, weights, stale, batches, HYPER, start_in_eval, given=LOSS)
    expected = exercise.expect(_expected_train, weights, stale, batches, HYPER)
    start = " (the model starts in evaluation mode)" if start_in_eval else ""
    results = got["results"]
    for k, result in enumerate(results):
        if not (isinstance(result, tuple) and len(result) == 2):
            fail(f"train_step returned {describe(result)}; expected (loss, wrong predictions)")
    mine = np.concatenate([np.ravel(got["params"][n]) for n, _ in params])
    check_close(
        f"train_step{start}: the weights after two steps (all parameters, in order)",
        mine,
        expected["params"],
        diagnoses=expected["diagnoses"],
        hint="model.train(); forward; loss; optimizer.zero_grad(); loss.backward(); "
        "optimizer.step()",
    )
    check_close(
        f"train_step{start}: the losses it returned",
        np.array([float(r[0]) for r in results]),
        np.array(expected["losses"]),
        hint="return the batch's mean loss (a float), computed before the step",
    )
    for name, value in expected["buffers"].items():
        check_close(
            f"train_step{start}: the running statistic {name} after two steps",
            got["buffers"][name],
            value,
            hint="in training mode every forward moves batch normalization's running "
            "statistics; they did not move as they should",
        )


@pytest.mark.points(2)
@pytest.mark.timeout(30)
def test_train_step(exercise, rng):
    _check_train_step(exercise, rng, start_in_eval=False)


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_train_step_from_evaluation_mode(exercise, rng):
    _check_train_step(exercise, rng, start_in_eval=True)


# ---- 7.5 evaluation -------------------------------------------------------------------------


def _eval_case(rng, params):
    from learnres.grading.checks import block_weights

    weights = block_weights(rng, params)
    buffers = {}
    for name, shape in params:
        layer, _, kind = name.rpartition(".")
        if layer.rpartition(".")[2].startswith("bn") and kind == "weight":
            stem = name[: -len("weight")]
            buffers[stem + "running_mean"] = 0.5 * rand(rng, *shape)
            buffers[stem + "running_var"] = 0.5 + rng.random(shape)
    loader = [_batch(rng, 5), _batch(rng, 5), _batch(rng, 3)]
    return weights, buffers, loader


class _Spy:
    """Wraps a model: records whether each forward ran with gradients enabled."""

    def __init__(self, model):
        self.model, self.grad_enabled = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, x):
        from learnres.autograd.grad_mode import is_grad_enabled

        self.grad_enabled.append(is_grad_enabled())
        return self.model(x)


def run_evaluate(module, weights, buffers, loader):
    """Runner: your evaluate on learnres's net (in training mode, with running statistics)."""
    net = _load(_net(), weights, buffers).train()
    spy = _Spy(net)
    loss, error = module.evaluate(spy, [(np.array(x), np.array(y)) for x, y in loader])
    return {
        "loss": float(loss),
        "error": float(error),
        "training_after": net.training,
        "buffers": {n: b for n, b in net.named_buffers()},
        "grad_enabled": spy.grad_enabled,
    }


def _expected_evaluate(weights, buffers, loader):
    import torch
    import torch.nn.functional as F

    from learnres.reference.convert import to_torch

    twin = to_torch(_load(_net(), weights, buffers), dtype=np.float64)
    out = {}
    for mode in ("eval", "train"):
        twin.train(mode == "train")
        losses, wrong, seen, per_batch = 0.0, 0, 0, []
        with torch.no_grad():
            for x, y in loader:
                logits = twin(torch.from_numpy(x))
                loss = float(F.cross_entropy(logits, torch.from_numpy(y)))
                losses += loss * len(y)
                per_batch.append(loss)
                wrong += int((logits.argmax(1).numpy() != y).sum())
                seen += len(y)
        out[mode] = {"loss": losses / seen, "error": 100.0 * wrong / seen, "batches": per_batch}
    return out


@pytest.mark.points(2)
@pytest.mark.timeout(30)
def test_evaluate(exercise, rng):
    params = exercise.expect(_structure)
    weights, buffers, loader = _eval_case(rng, params)
    got = exercise.run(run_evaluate, weights, buffers, loader, given=LOSS)
    expected = exercise.expect(_expected_evaluate, weights, buffers, loader)
    right, train_mode = expected["eval"], expected["train"]
    check_close(
        "evaluate: the mean loss over the loader's 13 images",
        np.array(got["loss"]),
        np.array(right["loss"]),
        diagnoses=[
            (
                "the loss in TRAINING mode: batch normalization normalised with each batch's "
                "statistics; evaluate must put the model in evaluation mode (model.eval())",
                np.array(train_mode["loss"]),
            ),
            (
                "the mean of the batches' losses: the last batch is smaller, so weigh each "
                "batch's loss by its number of images",
                np.array(np.mean(right["batches"])),
            ),
        ],
        hint="eval mode, no_grad, the loss summed per image and divided by the images seen",
    )
    check_close(
        "evaluate: the error (percent)",
        np.array(got["error"]),
        np.array(right["error"]),
        hint="100 * (wrong predictions) / (images seen); the prediction is the argmax",
    )
    if got["training_after"] is not True:
        fail(
            "evaluate left the model in evaluation mode: it came in training mode; restore "
            "the mode it had (model.train(was_training)), also when an error interrupts"
        )
    for name, value in buffers.items():
        check_close(
            f"evaluate: the running statistic {name} (must not change)",
            got["buffers"][name],
            value,
            hint="evaluation mode uses the running statistics and leaves them alone",
        )


@pytest.mark.points(1)
@pytest.mark.timeout(30)
def test_evaluate_builds_no_graph(exercise, rng):
    params = exercise.expect(_structure)
    weights, buffers, loader = _eval_case(rng, params)
    got = exercise.run(run_evaluate, weights, buffers, loader, given=LOSS)
    if not got["grad_enabled"] or any(got["grad_enabled"]):
        fail(
            "evaluate ran the model with gradients enabled (or not at all): wrap the loop in "
            "`with no_grad():`, since nothing will call backward and a graph per batch only "
            "costs memory"
        )
