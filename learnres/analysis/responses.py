"""Fig. 7: the standard deviations of the layer responses of a trained network.

He et al. (2015), section 4.2: "Fig. 7 shows the standard deviations (std) of the layer
responses. The responses are the outputs of each 3x3 layer, after BN and before other
nonlinearity (ReLU/addition)." They find that ResNets "have generally smaller responses
than their plain counterparts", as residual functions "might be generally closer to zero
than the non-residual functions".

Measured here as the paper measures a trained net: in evaluation mode (BN normalises with
its running statistics, so a response depends on the input), over all the test images. The
std of a layer is taken over every value of its response, (N, C, H, W) at once (for the
fully connected stacks, which have no 3x3 layers, the response of each Linear layer after
its BN, (N, C)):

    std_l = sqrt(mean(r_l^2) - mean(r_l)^2),   r_l = BN_l(conv_l(...)) over the test set

    rows = layer_responses(model, batches)            # [(layer name, std)], forward order
    result = run_responses("runs/resnet20-seed0")     # from a run's final checkpoint
    write_responses("runs/resnet20-seed0")            # -> runs/resnet20-seed0/responses.csv

    python -m learnres.analysis.responses RUN_DIR [RUN_DIR ...] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from learnres.analysis.probes import bn_outside_shortcuts, record_outputs
from learnres.autograd import Tensor, no_grad
from learnres.backend import asnumpy

__all__ = [
    "RESPONSES_NAME",
    "LoadedRun",
    "RunResponses",
    "layer_responses",
    "load_run",
    "main",
    "read_responses",
    "run_responses",
    "save_responses",
    "write_responses",
]

RESPONSES_NAME = "responses.csv"


def layer_responses(model, batches, select=bn_outside_shortcuts) -> list[tuple[str, float]]:
    """``[(name, std)]`` of the response of every layer chosen by ``select``, in forward
    order, over all images of ``batches`` (an iterable of ``(images, labels)``), with the
    model in evaluation mode. Sums are kept in float64, batch by batch."""
    was_training = model.training
    model.eval()
    names, sums, squares, sizes = [], None, None, None
    try:
        with no_grad():
            for images, _ in batches:
                with record_outputs(model, select) as calls:
                    model(Tensor(images))
                outs = [asnumpy(out.data).astype(np.float64) for _, out in calls]
                if sums is None:
                    names = [name for name, _ in calls]
                    sums, squares, sizes = (np.zeros(len(outs)) for _ in range(3))
                sums += [o.sum() for o in outs]
                squares += [(o * o).sum() for o in outs]
                sizes += [o.size for o in outs]  # N x C x H x W values of each response
    finally:
        model.train(was_training)
    if not names:
        raise ValueError("layer_responses: no batches, or no layer matched the selection")
    mean = sums / sizes
    std = np.sqrt(np.maximum(squares / sizes - mean**2, 0.0))
    return list(zip(names, std.tolist()))


@dataclass
class LoadedRun:
    """A finished run brought back: its model (final weights and BN statistics), its
    resolved configuration, its test loader (with the run's own preprocessing), the number
    of its training images and the checkpoint's iteration."""

    model: object
    config: dict
    test: object
    train_images: int
    iteration: int


def load_run(run_dir, data_dir=None) -> LoadedRun:
    """Rebuild the run in ``run_dir`` (written by ``learnres train``) from its checkpoint:
    the model from the checkpoint's configuration with its weights, and the test images
    normalised with the per-pixel mean of the run's training images. ``data_dir``
    overrides the data folder of the configuration (a relative path there is relative to
    where the run was started). Whatever device trained the run, it is rebuilt on the CPU,
    so a run made on a GPU can be measured on any machine."""
    from learnres.train.checkpoint import load_checkpoint
    from learnres.train.run import TrainConfig, build_data, build_model
    from learnres.train.trainer import CHECKPOINT_NAME

    state = load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
    config = json.loads(state["config"])
    fields = {k: v for k, v in config.items() if k in TrainConfig.__dataclass_fields__}
    if data_dir is not None:
        fields["data_dir"] = str(data_dir)
    fields.update(prefetch=False, progress=False, out=str(run_dir), device="cpu")
    run = TrainConfig(**fields)
    data = build_data(run)
    model = build_model(run.model, data.num_classes, data.in_channels, run.shortcut)
    if run.dtype == "float64":
        model.double()
    model.load_state_dict(state["model"])
    return LoadedRun(
        model, config, data.eval_loaders["test"], data.sizes["train"], int(state["iteration"])
    )


@dataclass
class RunResponses:
    """Fig. 7's measurement of one run: ``names`` and ``std`` per layer (forward order),
    the checkpoint's iteration, the test error the model gives on reloading (a check that
    the right weights and preprocessing were used), and the run's test and training
    image counts."""

    names: list
    std: list
    iteration: int
    test_error: float
    images: int
    train_images: int


def run_responses(run_dir, data_dir=None) -> RunResponses:
    """Fig. 7 for the final checkpoint of ``run_dir`` (see ``load_run``)."""
    run = load_run(run_dir, data_dir)
    batches = list(run.test)
    rows = layer_responses(run.model, batches)
    wrong = seen = 0
    run.model.eval()
    with no_grad():
        for images, labels in batches:
            logits = asnumpy(run.model(Tensor(images)).data)
            wrong += int((logits.argmax(1) != asnumpy(labels)).sum())
            seen += len(logits)
    return RunResponses(
        [n for n, _ in rows],
        [s for _, s in rows],
        run.iteration,
        100.0 * wrong / seen,
        seen,
        run.train_images,
    )


def write_responses(run_dir, data_dir=None, out=None) -> Path:
    """Measure ``run_dir``'s responses and write them to ``out`` (default
    ``run_dir/responses.csv``); see ``save_responses``."""
    out = Path(out) if out is not None else Path(run_dir) / RESPONSES_NAME
    return save_responses(run_responses(run_dir, data_dir), out)


def save_responses(result: RunResponses, out) -> Path:
    """Write ``result`` as CSV: ``layer, name, std`` per layer, with the checkpoint's
    iteration and the reloaded test error on every row (a temporary file renamed onto
    ``out``)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["layer", "name", "std", "iteration", "test_error"])
        for k, (name, std) in enumerate(zip(result.names, result.std), start=1):
            writer.writerow([k, name, f"{std:.6g}", result.iteration, f"{result.test_error:.4f}"])
    tmp.replace(out)
    return out


def read_responses(path) -> dict:
    """``{"names": [...], "std": array, "iteration": int, "test_error": float}`` from a
    ``responses.csv`` (a file, or the run folder that holds one)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESPONSES_NAME
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no layer responses in it")
    return {
        "names": [r["name"] for r in rows],
        "std": np.array([float(r["std"]) for r in rows]),
        "iteration": int(rows[0]["iteration"]),
        "test_error": float(rows[0]["test_error"]),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learnres.analysis.responses",
        description="Fig. 7: std of every 3x3 layer's response (after BN, before ReLU or the "
        "addition), evaluation mode, over the test images, from a run's final checkpoint; "
        "written to RUN_DIR/responses.csv.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument(
        "--data-dir", default=None, help="data folder (default: the one in the run's configuration)"
    )
    args = parser.parse_args(argv)
    for run in args.runs:
        path = write_responses(run, args.data_dir)
        result = read_responses(path)
        print(
            f"{path}: {len(result['names'])} layers, mean std {result['std'].mean():.3f}, "
            f"test error {result['test_error']:.2f}% at iteration {result['iteration']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
