"""``learnres doctor``: the version checks it makes."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from learnres.bench.ops import blas_kernels
from learnres.cli import main
from learnres.doctor import (
    blas_note,
    diagnose,
    extra_for_driver,
    notes,
    numpy_in_range,
    wheel_cuda_major,
)


def test_numpy_range_parsing():
    assert numpy_in_range("numpy<2.3,>=1.22", "2.2.6")
    assert not numpy_in_range("numpy<2.3,>=1.22", "2.4.0")
    assert not numpy_in_range("numpy>=2.0", "1.26.4")
    assert numpy_in_range(None, "2.4.0")


def test_wheel_newer_than_driver_is_reported_with_the_extra_to_use():
    report = {
        "cupy": "14.2.0",
        "cupy_package": "cupy-cuda13x 14.2.0",
        "cuda_runtime": "13.0",
        "cuda_driver": "12.8",
        "problem": None,
    }
    (problem,) = diagnose(report, numpy_version="2.0.0")
    assert "needs CUDA 13.0 but the driver supports CUDA 12.8" in problem
    assert "pip uninstall -y cupy-cuda13x" in problem and "learnres[cuda12]" in problem


def test_a_wheel_that_cannot_start_is_judged_by_its_name():
    """CuPy could not start (no runtime version): the wheel's name says its CUDA major, the
    driver's version comes from libcuda."""
    report = {
        "cupy": None,
        "cupy_package": "cupy-cuda13x 14.2.0",
        "cupy_packages": ["cupy-cuda13x 14.2.0"],
        "cuda_driver": "12.4",
        "problem": "CuPy is not installed",
    }
    (problem,) = diagnose(report, numpy_version="2.0.0")
    assert "needs CUDA 13.x but the driver supports CUDA 12.4" in problem
    assert "learnres[cuda12]" in problem


def test_an_older_wheel_than_the_driver_gets_a_note_not_a_problem():
    report = {
        "cupy": "14.2.0",
        "cupy_package": "cupy-cuda12x 14.2.0",
        "cupy_packages": ["cupy-cuda12x 14.2.0"],
        "cuda_runtime": "12.9",
        "cuda_driver": "13.0",
        "problem": None,
    }
    assert diagnose(report, numpy_version="2.0.0") == []
    (note,) = notes(report)
    assert "learnres[cuda13]" in note and "pip uninstall -y cupy-cuda12x" in note


def test_extras_by_driver_and_wheel_names():
    assert extra_for_driver("13.0") == "cuda13" and extra_for_driver("13.2") == "cuda13"
    assert extra_for_driver("12.8") == "cuda12" and extra_for_driver("14.0") == "cuda13"
    assert extra_for_driver("11.4") is None and extra_for_driver(None) is None
    assert wheel_cuda_major("cupy-cuda12x 14.0.1") == 12 and wheel_cuda_major("cupy 14") is None


def test_cupy_13_is_too_old():
    report = {
        "cupy": "13.4.0",
        "cupy_package": "cupy-cuda12x 13.4.0",
        "cuda_runtime": "12.8",
        "cuda_driver": "12.9",
        "problem": None,
    }
    (problem,) = diagnose(report, numpy_version="2.0.0")
    assert "CuPy 13.4.0 is older than 14" in problem and "learnres[cuda12]" in problem


def test_numpy_outside_cupy_range_is_reported():
    report = {
        "cupy": "14.0.0",
        "cupy_package": "cupy-cuda12x 14.0.0",
        "cupy_numpy_requirement": "numpy<2.3,>=1.22",
        "problem": None,
    }
    (problem,) = diagnose(report, numpy_version="2.4.1")
    assert "NumPy 2.4.1 is outside the range" in problem


def test_two_wheels_side_by_side_and_unusable_gpu_are_reported():
    report = {
        "cupy": "14.2.0",
        "cupy_package": "cupy-cuda13x 14.2.0",
        "cuda_driver": "13.0",
        "cupy_packages": ["cupy-cuda12x 14.0.1", "cupy-cuda13x 14.2.0"],
        "problem": "CUDARuntimeError: no CUDA-capable device is detected",
    }
    problems = diagnose(report)
    assert len(problems) == 2
    assert "shadow each other" in problems[0] and "no CUDA-capable device" in problems[1]
    assert "pip uninstall -y cupy-cuda12x cupy-cuda13x" in problems[0]
    assert "learnres[cuda13]" in problems[0]


def test_the_installed_wheels_are_found_by_their_distributions(monkeypatch):
    """gpu_report lists every installed CuPy wheel (importlib.metadata), as pip would."""
    from importlib import metadata

    from learnres import backend

    class Dist:
        def __init__(self, name, version):
            self.metadata, self.version, self.requires = {"Name": name}, version, []

    fake = [Dist("cupy-cuda13x", "14.2.0"), Dist("numpy", "2.4"), Dist("cupy-cuda12x", "14.0")]
    monkeypatch.setattr(metadata, "distributions", lambda: fake)
    report = backend.gpu_report()
    assert report["cupy_packages"] == ["cupy-cuda12x 14.0", "cupy-cuda13x 14.2.0"]
    assert any("shadow each other" in p for p in diagnose(report))


def test_healthy_report_has_no_problems():
    report = {
        "cupy": "14.2.0",
        "cupy_package": "cupy-cuda13x 14.2.0",
        "cupy_numpy_requirement": "numpy>=2.0",
        "cuda_runtime": "13.0",
        "cuda_driver": "13.0",
        "problem": None,
    }
    assert diagnose(report, numpy_version="2.0.0") == []


def test_doctor_command_runs_here(capsys):
    status = main(["doctor"])
    out = capsys.readouterr().out
    assert "numpy" in out and "GPU usable" in out and "CPU allocator" in out
    assert status in (0, 1)


# ---- NumPy's BLAS: OPENBLAS_CORETYPE holding an AVX-512 CPU to older kernels ----------------

HELD_BACK = {"name": "openblas 0.3.31", "kernels": "Haswell", "coretype": "Haswell", "avx512": True}


def test_coretype_holding_avx512_cpu_to_avx2_kernels_is_noted():
    note = blas_note(HELD_BACK)
    assert "OPENBLAS_CORETYPE=Haswell" in note and "Haswell kernels" in note
    assert "OPENBLAS_CORETYPE=SkylakeX" in note  # what to do instead


@pytest.mark.parametrize(
    "change",
    [
        {"coretype": None},  # OpenBLAS chose the kernels itself
        {"avx512": False},  # the CPU has no AVX-512: Haswell kernels are its best
        {"kernels": "SkylakeX", "coretype": "SkylakeX"},  # set, to AVX-512 kernels
        {"name": "mkl 2025.1"},  # not OpenBLAS: OPENBLAS_CORETYPE means nothing to it
    ],
)
def test_no_blas_note_when_nothing_is_held_back(change):
    assert blas_note({**HELD_BACK, **change}) is None


def _doctor_with(env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "learnres", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def test_doctor_reports_the_kernels_openblas_really_runs():
    """A real OpenBLAS, told by the environment to run its Haswell kernels, says so (and
    doctor passes it on); without the variable, doctor reports what OpenBLAS chose."""
    here = blas_kernels()
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"Haswell kernels are x86-64's; this machine is {platform.machine()}")
    if not here["name"].startswith("openblas") or here["kernels"] == "unknown":
        pytest.skip(f"NumPy's BLAS is {here['name']}, not an OpenBLAS that names its kernels")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    held = _doctor_with({**env, "OPENBLAS_CORETYPE": "Haswell"})
    row = next(line for line in held.splitlines() if line.startswith("CPU BLAS"))
    assert "Haswell kernels (OPENBLAS_CORETYPE=Haswell in the environment)" in row, row
    assert ("Note: OPENBLAS_CORETYPE=Haswell" in held) == here["avx512"], held
    free = _doctor_with(env)
    row = next(line for line in free.splitlines() if line.startswith("CPU BLAS"))
    assert "OPENBLAS_CORETYPE" not in row and "Note: OPENBLAS_CORETYPE" not in free, free
