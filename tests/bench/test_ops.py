"""``learnres bench --suite ops`` runs and prints a row per benchmarked op (no timing claims)."""

from __future__ import annotations

import pytest

from learnres.bench import ops
from learnres.bench.ops import Row, cases
from learnres.cli import main


def test_quick_ops_bench_prints_every_row(capsys):
    assert main(["bench", "--suite", "ops", "--quick", "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    names = [case.name for case in cases()]
    assert len(names) == 9  # six ResNet-20 convolutions, one plain, batch norm, ReLU
    for name in names:
        assert any(line.startswith(name + " ") for line in out.splitlines()), (
            f"no row for {name}:\n{out}"
        )
    assert "threads: learnres" in out and "rows within 2.5x torch" in out
    machine = next(line for line in out.splitlines() if line.startswith("machine: "))
    gflops = float(machine.split("sgemm ")[1].split(" GFLOP/s")[0])
    assert "NumPy's BLAS: " in machine and gflops > 0, machine


def test_row_status():
    assert Row("a", 2.0, 1.0).status == "ok"
    assert Row("a", 3.0, 1.0).status == "MISS"
    assert Row("a", 3.0, None).ratio is None and Row("a", 3.0, None).status == ""


@pytest.mark.parametrize("suite", ["step"])
def test_missing_suite_is_reported(suite, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "learnres.bench.step", None)  # as if the file were missing
    assert main(["bench", "--suite", suite, "--quick"]) == 2
    assert "not available" in capsys.readouterr().out


class _FakeClock:
    """A clock that only moves when the timed function runs: ``ms`` per call."""

    def __init__(self, ms):
        self.now, self.ms, self.calls = 0.0, ms, 0

    def __call__(self):
        return self.now

    def run(self):
        self.calls += 1
        self.now += self.ms / 1e3


@pytest.mark.parametrize("ms_per_run, runs", [(12, 6), (100, 2)], ids=["short-runs", "long-runs"])
def test_a_run_is_timed_after_warm_runs_of_its_own(ms_per_run, runs, monkeypatch):
    """steady_ms: untimed runs of the function itself for WARM_MS (at least one), then
    one timed run, whose time alone is returned."""
    clock = _FakeClock(ms_per_run)
    monkeypatch.setattr(ops.time, "perf_counter", clock)
    monkeypatch.setattr(ops, "WARM_MS", 50)
    assert ops.steady_ms(clock.run, clock) == pytest.approx(ms_per_run)
    assert clock.calls == runs  # 12 ms: 5 untimed runs pass 50 ms; 100 ms: one does
