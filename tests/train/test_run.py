"""Configuration of a run: lengths, intervals, model names."""

from __future__ import annotations

import pytest

from learnres.train.metrics import MetricsHistory, read_csv
from learnres.train.run import (
    TrainConfig,
    build_model,
    check_model_name,
    default_intervals,
    resolve_iterations,
)


def test_defaults_are_the_papers_protocol():
    c = TrainConfig()
    assert (c.batch_size, c.lr, c.momentum, c.weight_decay) == (128, 0.1, 0.9, 1e-4)
    assert (c.schedule, c.shortcut, c.normalization, c.augment) == ("paper", "A", "pixel", True)
    assert resolve_iterations(c, 351) == 64_000


def test_iterations_from_epochs_and_conflicts():
    assert resolve_iterations(TrainConfig(epochs=2.5), 39) == 98  # round(97.5) -> 98
    assert resolve_iterations(TrainConfig(iterations=10), 39) == 10
    assert resolve_iterations(TrainConfig(epochs=2, iterations=78), 39) == 78  # a saved config
    with pytest.raises(ValueError, match="not both"):
        resolve_iterations(TrainConfig(epochs=2, iterations=10), 39)


def test_default_intervals():
    assert default_intervals(64_000) == {
        "log_every": 100,
        "eval_every": 1000,
        "checkpoint_every": 1000,
    }
    assert default_intervals(500) == {"log_every": 5, "eval_every": 50, "checkpoint_every": 50}
    assert default_intervals(3) == {"log_every": 1, "eval_every": 1, "checkpoint_every": 1}


def test_model_names():
    assert check_model_name("ResNet-20") == "resnet20"
    assert check_model_name("resnet8") == "resnet8"
    with pytest.raises(ValueError, match="6n\\+2"):
        check_model_name("resnet10")
    with pytest.raises(ValueError, match="valid names: .*plain56.*mlp20"):
        check_model_name("resnet50")  # an ImageNet model: not for 32x32 images
    assert build_model("plain8", 10, 3).num_parameters() > 0
    assert build_model("mlp20", 10, 1).in_features == 32 * 32  # Fashion-MNIST padded to 32
    assert build_model("resnet8", 100, 3, shortcut="B").fc.weight.shape == (100, 64)


def test_config_round_trip():
    c = TrainConfig(model="resnet56", milestones=(10, 20), validation=0.1)
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        TrainConfig.from_dict({"modle": "resnet20"})


def test_metrics_history_rows_merge_by_iteration(tmp_path):
    h = MetricsHistory()
    h.record(10, train_error=50.0, lr=0.1)
    h.record(10, test_error=60.0)
    h.record(20, train_error=40.0)
    assert len(h) == 2 and h.rows[0] == {
        "iteration": 10,
        "train_error": 50.0,
        "lr": 0.1,
        "test_error": 60.0,
    }
    assert h.column("test_error") == ([10], [60.0]) and h.last("train_error") == 40.0
    with pytest.raises(ValueError, match="iteration 5 after iteration 20"):
        h.record(5, train_error=1.0)
    with pytest.raises(KeyError, match="unknown metric"):
        h.record(30, accuracy=1.0)
    h.write_csv(tmp_path / "metrics.csv")
    assert read_csv(tmp_path).rows == h.rows
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a learnres metrics file"):
        read_csv(tmp_path / "other.csv")
