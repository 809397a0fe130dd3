"""learnres.lectures.gpu: the stored results of tools/gpu_check.sh, read back for chapter 6.

The readers are checked on files made here by the same code that makes them on a GPU
(``learnres.train.cpu_vs_gpu``'s CSV, ``learnres.bench.step``'s report), and on the files
stored in chapters/runs/gpu-check, whose numbers must be consistent with each other.
"""

from __future__ import annotations

import shutil

import pytest

from learnres.lectures import gpu
from learnres.lectures.config import runs_dir


def test_absent_results_read_as_none(tmp_path):
    assert gpu.step_table(tmp_path) is None
    assert gpu.cuda_leg_result(tmp_path) is None
    assert gpu.first_steps("float32", tmp_path) is None
    assert gpu.fp32_errors(tmp_path) is None
    assert gpu.cpu_gpu_runs(["resnet20"], root=tmp_path) == {}


def test_a_first_steps_csv_reads_back_as_numbers(tmp_path):
    folder = tmp_path / gpu.GPU_CHECK
    folder.mkdir()
    (folder / "cpu-vs-gpu-float64.csv").write_text(
        "step,loss_cpu,loss_gpu,loss_rel_diff,param_rel_diff,worst_tensor,worst_tensor_rel_diff\n"
        "0,,,,0.0,,0.0\n"
        "1,2.5,2.5,0.0,1e-16,bn1.bias,3e-14\n"
        "2,2.25,2.0,0.1111,2e-16,fc.bias,5e-14\n"
    )
    rows = gpu.first_steps("float64", tmp_path)
    assert [r["step"] for r in rows] == [1.0, 2.0]  # the start (row 0) is left out
    assert rows[1]["loss_gpu"] == 2.0 and rows[1]["worst_tensor"] == "fc.bias"
    table = gpu.first_steps_markdown(rows)
    assert "| 2 | 2.250000 | 2.000000 | 1.1e-01 |" in table and "`fc.bias` (5.0e-14)" in table


def test_the_cuda_leg_line_is_pytests_last_summary(tmp_path):
    folder = tmp_path / gpu.GPU_CHECK
    folder.mkdir()
    (folder / "pytest-gpu.txt").write_text(
        "FAILED tests/x.py::test_a - AssertionError\n====== 1 failed, 20 passed in 3.00s ======\n"
    )
    assert gpu.cuda_leg_result(tmp_path) == "1 failed, 20 passed in 3.00s"


def test_the_stored_gpu_check_is_whole_and_consistent():
    """The stored GPU results: the step table parses, its ratios are its times' ratios, the
    CuPy leg passed without a failure, float64 CPU and GPU steps agree to rounding."""
    root = runs_dir()
    if not gpu.gpu_check_dir(root).is_dir():
        pytest.skip("no stored GPU check")
    rows, hardware = gpu.step_table(root)
    assert hardware.startswith("GPU: ") and [r["model"] for r in rows][:2] == [
        "resnet20",
        "resnet56",
    ]
    for r in rows:
        ours, theirs = r["learnres_ms"], r["torch_ms"]  # printed to 0.1 ms, the ratio exactly
        assert (
            (ours - 0.05) / (theirs + 0.05) - 0.005
            <= r["ratio"]
            <= (ours + 0.05) / (theirs - 0.05) + 0.005
        )
        assert r["learnres_peak_mb"] > 0 and r["torch_peak_mb"] > 0
    leg = gpu.cuda_leg_result(root)
    assert "passed" in leg and "failed" not in leg, leg
    for r in gpu.first_steps("float64", root):
        assert r["loss_rel_diff"] < 1e-12 and r["param_rel_diff"] < 1e-12
    errors = gpu.fp32_errors(root)  # the chapter says: about as exact as NumPy, no TF32
    assert len(errors) == 4 and all(on_gpu < 1e-5 for on_gpu, _ in errors.values()), errors
    pairs = gpu.cpu_gpu_runs(["resnet20", "plain20"], root=root)
    for cpu, on_gpu in pairs.values():
        assert cpu.config.get("device", "cpu") == "cpu" and on_gpu.config["device"] == "cuda"
        assert "--device cuda" in on_gpu.command


def test_the_cpu_gpu_table_names_each_runs_device(tmp_path):
    root = runs_dir()
    for name in ("resnet20-seed0", "resnet20-cuda-seed0"):
        if not (root / name).is_dir():
            pytest.skip(f"{name} is not stored")
        shutil.copytree(root / name, tmp_path / name)
    pairs = gpu.cpu_gpu_runs(["resnet20", "plain20"], root=tmp_path)
    assert list(pairs) == ["resnet20"]  # plain20 has neither run here
    table = gpu.cpu_gpu_markdown(pairs).splitlines()
    assert table[2].startswith("| ResNet-20 | CPU | 2,000 |")
    assert table[3].startswith("| ResNet-20 | GPU |")
