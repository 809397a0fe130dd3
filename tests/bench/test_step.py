"""``learnres bench --suite step``: the table it prints and the CSV it writes (no timing claims)."""

from __future__ import annotations

import pytest

from learnres.bench.step import CSV_FIELDS, parse_report, read_table, write_table
from learnres.cli import main

pytest.importorskip("torch")


def test_the_step_table_is_printed_and_written_as_csv(tmp_path, capsys):
    out = tmp_path / "step.csv"
    argv = [
        "bench",
        "--suite",
        "step",
        "--quick",
        "--batch-size",
        "4",
        "--depths",
        "8",
        "--csv",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    rows = read_table(out)
    assert [r["model"] for r in rows] == ["resnet8"]
    for row in rows:
        name = "ResNet-" + row["model"][6:]
        line = next(li for li in printed.splitlines() if li.startswith(name + " "))
        assert float(line.split()[1]) == pytest.approx(row["learnres_ms"], abs=0.05)
        assert row["ratio"] == pytest.approx(row["learnres_ms"] / row["torch_ms"])
        assert row["learnres_images_per_s"] == pytest.approx(4e3 / row["learnres_ms"])
        assert row["batch"] == 4 and row["device"] == "cpu" and row["repeats"] == 2
        assert row["hardware"].startswith("machine: ")
        assert row["learnres_peak_mb"] is None  # --quick measures no memory
    assert not list(tmp_path.glob("*.partial"))
    # the printed report reads back as the same numbers, to the digits it prints
    parsed, hardware = parse_report(printed)
    assert hardware == rows[0]["hardware"]
    for got, row in zip(parsed, rows, strict=True):
        assert got["model"] == row["model"]
        assert got["learnres_ms"] == pytest.approx(row["learnres_ms"], abs=0.051)
        assert got["torch_ms"] == pytest.approx(row["torch_ms"], abs=0.051)
        assert got["ratio"] == pytest.approx(row["ratio"], abs=0.0051)
        assert got["torch_images_per_s"] == pytest.approx(row["torch_images_per_s"], abs=0.51)
        assert got["learnres_peak_mb"] is None


def test_a_report_with_memory_reads_back_and_other_text_is_refused():
    report = """GPU: NVIDIA H200; CuPy 14.2.0
model       learnres ms  torch ms  ratio learnres img/s torch img/s  target
ResNet-20          41.9       9.2   4.53           3057       13839  <= 2 MISS
model       library    peak GPU    step
ResNet-20   learnres        599     596
ResNet-20   torch           n/a     n/a
"""
    (row,), hardware = parse_report(report)
    assert hardware == "GPU: NVIDIA H200; CuPy 14.2.0"
    assert (row["learnres_ms"], row["torch_ms"], row["ratio"]) == (41.9, 9.2, 4.53)
    assert (row["learnres_peak_mb"], row["learnres_step_mb"]) == (599.0, 596.0)
    assert row["torch_peak_mb"] is None and row["torch_step_mb"] is None
    with pytest.raises(ValueError, match="no `learnres bench --suite step` table"):
        parse_report("learnres bench --suite ops\nconv 1 2 3")


def test_a_table_that_cannot_be_written_leaves_the_old_one(tmp_path):
    path = tmp_path / "step.csv"
    write_table([{"model": "resnet20", "learnres_ms": 1.0}], path)
    before = path.read_text()
    with pytest.raises(ValueError):  # a column the table does not have
        write_table([{"model": "resnet56", "no such column": 1}], path)
    assert path.read_text() == before
    assert not list(tmp_path.glob("*.partial"))
    assert read_table(path)[0]["learnres_ms"] == 1.0
    assert list(read_table(path)[0]) == list(CSV_FIELDS)


def test_the_step_over_two_processes_is_timed_and_labelled(tmp_path, capsys):
    out = tmp_path / "step.csv"
    argv = ["bench", "--suite", "step", "--quick", "--batch-size", "4", "--depths", "8"]
    assert main([*argv, "--processes", "2", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "learnres: 2 processes (learnres.data_parallel)" in printed
    (row,) = read_table(out)
    assert row["processes"] == 2 and row["learnres_ms"] > 0 and row["torch_ms"] > 0
    assert main([*argv, "--processes", "2", "--device", "cuda"]) == 0  # refused, one line
    assert "--processes is for the CPU" in capsys.readouterr().out
