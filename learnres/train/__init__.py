"""Training: the loop (``Trainer``), metrics history, checkpoints, plots and ``learnres train``.

    from learnres.train import TrainConfig, train
    result = train(TrainConfig(model="resnet20", dataset="cifar10", iterations=2000,
                               data_dir="../shared/datasets", out="runs/resnet20"))
    result.final["test_error"]     # percent

Modules: ``trainer`` (the loop, evaluation, resume, interruptions), ``run`` (``TrainConfig``
and ``train``: builds data, model, optimizer and schedule from a configuration),
``checkpoint`` (safe ``.npz`` files), ``state_check`` (is a checkpoint fit to resume this
run?), ``folder`` (one run per folder, atomic files), ``metrics`` (history and
``metrics.csv``), ``plot`` (Fig. 6-style curves), ``cli`` and ``plot_cli`` (the commands).
"""

from learnres.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from learnres.train.folder import RunFolderBusy, RunFolderError, claim_run_folder
from learnres.train.metrics import COLUMNS, MetricsHistory, read_csv
from learnres.train.plot import plot_history, plot_runs
from learnres.train.run import TrainConfig, build_trainer, train
from learnres.train.trainer import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    PLOT_NAME,
    Trainer,
    TrainingDiverged,
    TrainResult,
    evaluate,
)

__all__ = [
    "CHECKPOINT_NAME",
    "COLUMNS",
    "METRICS_NAME",
    "PLOT_NAME",
    "CheckpointError",
    "RunFolderBusy",
    "RunFolderError",
    "MetricsHistory",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "build_trainer",
    "claim_run_folder",
    "evaluate",
    "load_checkpoint",
    "plot_history",
    "plot_runs",
    "read_csv",
    "save_checkpoint",
    "train",
]
