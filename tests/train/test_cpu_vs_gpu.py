"""learnres.train.cpu_vs_gpu: the first steps of a run on the CPU and on the CuPy leg.

On the stand-in the GPU side is NumPy underneath, so in float64 the two runs may differ
only by the order of additions (the CPU path splits the batch over threads, the GPU path
does not): ~1e-16 relative. On a real GPU the same tests check CuPy's kernels and cuBLAS.
"""

from __future__ import annotations

import csv

import pytest

from learnres.train import cpu_vs_gpu
from learnres.train.run import TrainConfig

pytestmark = pytest.mark.gpu


@pytest.fixture
def gpu() -> str:
    """The CuPy leg's device (real CuPy or the stand-in); skips where the leg is off."""
    from tests.conftest import CUPY_LEG

    if CUPY_LEG is None:
        pytest.skip("the CuPy leg is off (LEARNRES_TEST_CUPY=off)")
    return "cuda"


def _config(shared_datasets, **kw) -> TrainConfig:
    base = dict(
        model="resnet8",
        dataset="cifar10",
        data_dir=str(shared_datasets),
        subset=200,
        batch_size=16,
        seed=1,
        dtype="float64",
        iterations=3,
    )
    return TrainConfig(**{**base, **kw})


def test_float64_runs_agree_step_by_step(shared_datasets, gpu):
    rows = cpu_vs_gpu.compare_first_steps(_config(shared_datasets), steps=3)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    for r in rows[1:]:
        assert r["loss_rel_diff"] < 1e-12, r
        assert r["param_rel_diff"] < 1e-12, r
        assert r["worst_tensor"]  # a real parameter name
    losses = [r["loss_cpu"] for r in rows[1:]]
    assert len(set(losses)) == 3  # three different batches, not one batch three times


def test_a_different_start_is_refused(shared_datasets, gpu, monkeypatch):
    """Weights that differ before the first step are an error, not a row of differences."""
    real = cpu_vs_gpu.build_trainer

    def build(config):
        trainer = real(config)
        if config.device != "cpu":
            trainer.model.fc.bias.data += 1.0
        return trainer

    monkeypatch.setattr(cpu_vs_gpu, "build_trainer", build)
    with pytest.raises(RuntimeError, match="different weights"):
        cpu_vs_gpu.compare_first_steps(_config(shared_datasets), steps=1)


def test_the_command_writes_its_rows(shared_datasets, gpu, tmp_path, capsys):
    out = tmp_path / "first-steps.csv"
    code = cpu_vs_gpu.main(
        [
            "--model",
            "resnet8",
            "--data-dir",
            str(shared_datasets),
            "--batch-size",
            "8",
            "--steps",
            "2",
            "--dtype",
            "float64",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["step"] for r in rows] == ["0", "1", "2"]
    assert tuple(rows[0]) == cpu_vs_gpu.FIELDS
    assert float(rows[2]["loss_rel_diff"]) < 1e-12
    assert "CPU (NumPy) vs cuda" in capsys.readouterr().out


def test_a_device_that_is_not_usable_is_named(shared_datasets, no_gpu, capsys):
    code = cpu_vs_gpu.main(
        ["--model", "resnet8", "--data-dir", str(shared_datasets), "--steps", "1"]
    )
    assert code == 2
    assert "--device" in capsys.readouterr().err
