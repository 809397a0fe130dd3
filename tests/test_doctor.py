"""``learnres doctor``: the version checks it makes."""

from __future__ import annotations

from learnres.cli import main
from learnres.doctor import diagnose, numpy_in_range


def test_numpy_range_parsing():
    assert numpy_in_range("numpy<2.3,>=1.22", "2.2.6")
    assert not numpy_in_range("numpy<2.3,>=1.22", "2.4.0")
    assert not numpy_in_range("numpy>=2.0", "1.26.4")
    assert numpy_in_range(None, "2.4.0")


def test_wheel_newer_than_driver_is_reported():
    report = {"cupy": "13.4.0", "cupy_package": "cupy-cuda12x 13.4.0",
              "cuda_runtime": "12.8", "cuda_driver": "11.4", "problem": None}  # fmt: skip
    (problem,) = diagnose(report, numpy_version="2.0.0")
    assert "needs CUDA 12.8 but the driver supports CUDA 11.4" in problem
    assert "cupy-cuda11x" in problem


def test_numpy_outside_cupy_range_is_reported():
    report = {"cupy": "13.4.0", "cupy_package": "cupy-cuda12x 13.4.0",
              "cupy_numpy_requirement": "numpy<2.3,>=1.22", "problem": None}  # fmt: skip
    (problem,) = diagnose(report, numpy_version="2.4.1")
    assert "NumPy 2.4.1 is outside the range" in problem


def test_two_wheels_and_unusable_gpu_are_reported():
    report = {"cupy": "13.4.0", "cupy_package": "cupy-cuda12x 13.4.0",
              "problem": "CUDARuntimeError: no CUDA-capable device is detected"}  # fmt: skip
    problems = diagnose(report, cupy_packages=("cupy-cuda11x", "cupy-cuda12x"))
    assert len(problems) == 2
    assert "shadow each other" in problems[0] and "no CUDA-capable device" in problems[1]


def test_healthy_report_has_no_problems():
    report = {"cupy": "13.4.0", "cupy_package": "cupy-cuda12x 13.4.0",
              "cupy_numpy_requirement": "numpy>=1.22", "cuda_runtime": "12.8",
              "cuda_driver": "12.9", "problem": None}  # fmt: skip
    assert diagnose(report, numpy_version="2.0.0") == []


def test_doctor_command_runs_here(capsys):
    status = main(["doctor"])
    out = capsys.readouterr().out
    assert "numpy" in out and "GPU usable" in out and "CPU allocator" in out
    assert status in (0, 1)
