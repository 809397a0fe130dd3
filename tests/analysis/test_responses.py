"""learnres.analysis.responses: Fig. 7's layer responses of a trained run."""

from __future__ import annotations

import numpy as np
import pytest

from learnres import Tensor, no_grad
from learnres.analysis.probes import bn_after_3x3
from learnres.analysis.responses import (
    layer_responses,
    load_run,
    read_responses,
    run_responses,
    write_responses,
)
from learnres.functions import batch_norm, conv2d
from learnres.models import plain, resnet
from learnres.nn import init
from learnres.train.run import TrainConfig, train


def _moved_statistics(model, rng):
    """Give every BN layer running statistics and affine parameters of its own, so that
    evaluation mode differs visibly from training mode."""
    for name, module in model.named_modules():
        if hasattr(module, "running_var"):
            c = module.running_var.shape[0]
            module.running_mean[...] = rng.normal(0, 0.3, c)
            module.running_var[...] = rng.uniform(0.5, 2.0, c)
            module.weight.data[...] = rng.uniform(0.5, 1.5, c)
            module.bias.data[...] = rng.normal(0, 0.2, c)


@pytest.mark.parametrize("build", [resnet, plain])
def test_layer_responses_are_the_bn_outputs_of_every_3x3_layer_in_eval_mode(build, rng):
    """The first response is BN1(conv1(x)) with the running statistics, computed here with
    the functional ops; the count is 6n+1 (every 3x3 conv; the fc layer has none); the
    std is over all (N, C, H, W) values of all batches, and the mode is restored."""
    init.manual_seed(0)
    model = build(8).double()
    _moved_statistics(model, rng)
    model.train()
    x = rng.standard_normal((10, 3, 32, 32))
    rows = layer_responses(model, [(x[:6], None), (x[6:], None)])
    assert len(rows) == 7 and rows[0][0] == "bn1"
    modules = dict(model.named_modules())
    assert all(bn_after_3x3(name, modules[name]) for name, _ in rows)
    with no_grad():
        first = batch_norm(
            conv2d(Tensor(x), model.conv1.weight, padding=1),
            model.bn1.running_mean,
            model.bn1.running_var,
            model.bn1.weight,
            model.bn1.bias,
            training=False,
        ).data
    np.testing.assert_allclose(rows[0][1], first.std(), rtol=1e-10)
    assert model.training
    # one batch of all ten images gives the same numbers as the two batches
    again = layer_responses(model, [(x, None)])
    np.testing.assert_allclose([s for _, s in again], [s for _, s in rows], rtol=1e-9)


def test_run_responses_reload_the_run_and_write_a_csv(tmp_path, shared_datasets, device):
    """A finished run's model, reloaded from its checkpoint with its own preprocessing (on
    the CPU, whatever trained it), gives the test error its history recorded at the end;
    the CSV reads back."""
    config = TrainConfig(
        model="resnet8",
        data_dir=str(shared_datasets),
        subset=256,
        iterations=4,
        batch_size=32,
        eval_every=4,
        log_every=2,
        out=str(tmp_path / "run"),
        progress=False,
        plot=False,
        prefetch=False,
        device=device,
    )
    result = train(config)
    measured = run_responses(tmp_path / "run")
    assert measured.iteration == 4
    # float32 on a real GPU sums in another order: one of the 1,017 images may flip
    one_image = 0.0 if device == "cpu" else 100 / 1017
    assert measured.test_error == pytest.approx(
        result.history.last("test_error"), abs=one_image + 1e-9
    )
    assert len(measured.names) == 7 and all(s > 0 for s in measured.std)
    path = write_responses(tmp_path / "run")
    back = read_responses(tmp_path / "run")
    assert path.name == "responses.csv" and back["names"] == measured.names
    np.testing.assert_allclose(back["std"], measured.std, rtol=1e-5)
    run = load_run(tmp_path / "run")
    assert run.config["model"] == "resnet8" and run.iteration == 4 and run.train_images == 256
    assert measured.images == 1017 and measured.train_images == 256


def test_the_fully_connected_stacks_have_a_response_per_linear_layer(rng):
    from learnres.models import mlp

    init.manual_seed(0)
    model = mlp(8, 16).double()
    rows = layer_responses(model, [(rng.standard_normal((5, 3, 32, 32)), None)])
    assert len(rows) == 7 and all(s > 0 for _, s in rows)
