"""The metrics history of a training run, and its ``metrics.csv``.

One row per iteration at which something was measured: the end of a logging window
(training loss and error over the window's batches, learning rate, images/s) and/or an
evaluation (loss and error on the validation and test sets). Errors are in percent, as
in the paper's tables and Fig. 6; a cell is empty when that quantity was not measured at
that iteration.

    iteration,epoch,lr,train_loss,train_error,val_loss,val_error,test_loss,test_error,images_per_s,elapsed_s
    100,2.52,0.1,1.9342,71.21,,,1.8011,66.47,1391.2,9.2

The history is a list of dicts, so it goes into a checkpoint as JSON and comes back the
same; ``write_csv`` rewrites the whole file from it, so a resumed run's CSV holds exactly
the rows of the checkpoint it resumed from plus the new ones.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from learnres.train.folder import atomic_write

__all__ = ["COLUMNS", "MetricsHistory", "evaluation_line", "read_csv"]

COLUMNS = (
    "iteration",
    "epoch",
    "lr",
    "train_loss",
    "train_error",
    "val_loss",
    "val_error",
    "test_loss",
    "test_error",
    "images_per_s",
    "elapsed_s",
)


class MetricsHistory:
    """Rows of measurements keyed by iteration (see the module docstring for the columns)."""

    def __init__(self, rows: list[dict] | None = None):
        self.rows: list[dict] = [dict(r) for r in rows] if rows else []

    def record(self, iteration: int, **values) -> dict:
        """Add ``values`` to the row of ``iteration`` (made if this iteration is new)."""
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise KeyError(f"unknown metric(s) {sorted(unknown)}; known: {', '.join(COLUMNS)}")
        if self.rows and self.rows[-1]["iteration"] == iteration:
            row = self.rows[-1]
        else:
            if self.rows and self.rows[-1]["iteration"] > iteration:
                last = self.rows[-1]["iteration"]
                raise ValueError(f"metrics for iteration {iteration} after iteration {last}")
            row = {"iteration": int(iteration)}
            self.rows.append(row)
        for key, value in values.items():
            row[key] = None if value is None else float(value)
        return row

    def column(self, name: str) -> tuple[list[int], list[float]]:
        """``(iterations, values)`` of the rows where ``name`` was measured."""
        its, values = [], []
        for row in self.rows:
            value = row.get(name)
            if value is not None:
                its.append(row["iteration"])
                values.append(value)
        return its, values

    def last(self, name: str):
        """The latest measured value of ``name``, or None."""
        _, values = self.column(name)
        return values[-1] if values else None

    def last_iteration_of(self, *names: str) -> int | None:
        """The latest iteration at which any of ``names`` was measured, or None."""
        for row in reversed(self.rows):
            if any(row.get(name) is not None for name in names):
                return row["iteration"]
        return None

    def state_dict(self) -> list[dict]:
        return [dict(r) for r in self.rows]

    def load_state_dict(self, rows: list[dict]) -> None:
        self.rows = [dict(r) for r in rows]

    def write_csv(self, path) -> Path:
        """Write every row to ``path`` (a temporary file of its own renamed onto it, like
        checkpoints: ``learnres.train.folder.atomic_write``)."""

        def write(f):
            text = io.TextIOWrapper(f, newline="", encoding="utf-8")
            writer = csv.writer(text)
            writer.writerow(COLUMNS)
            for row in self.rows:
                writer.writerow([_cell(row.get(c)) for c in COLUMNS])
            text.flush()
            text.detach()  # leave the binary file open for atomic_write to flush and close

        return atomic_write(path, write)

    def __len__(self) -> int:
        return len(self.rows)


def evaluation_line(iteration: int, values: dict) -> str:
    """What a run prints after an evaluation: ``{"test_loss": .., "test_error": 8.75}`` at
    iteration 100 -> "iteration 100: test error 8.75%"."""
    parts = [
        f"{k.replace('_error', '')} error {v:.2f}%"
        for k, v in values.items()
        if k.endswith("_error")
    ]
    return f"iteration {iteration}: " + ", ".join(parts)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) and not math.isfinite(value) else f"{value:.6g}"


def read_csv(path) -> MetricsHistory:
    """A ``MetricsHistory`` from a ``metrics.csv`` (or a run folder that holds one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file at {path}")
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "iteration" not in reader.fieldnames:
            raise ValueError(f"{path} is not a learnres metrics file (no 'iteration' column)")
        for raw in reader:
            row = {"iteration": int(float(raw["iteration"]))}
            for key, value in raw.items():
                if key != "iteration" and key in COLUMNS and value not in ("", None):
                    row[key] = float(value)
            rows.append(row)
    return MetricsHistory(rows)
