"""``learnres doctor``: what the GPU path needs, what this machine has, and known problems.

Checks (each printed as a finding with what to do):

* CuPy installed but no usable GPU (no driver, no device, a failing kernel launch).
* Two CuPy wheels installed side by side (``cupy-cuda12x`` and ``cupy-cuda13x``): they
  unpack into the same ``cupy`` folder and shadow each other.
* A CuPy wheel built for another CUDA major version than the driver's: newer cannot run
  (``cupy-cuda13x`` on a driver for CUDA 12.8), older runs but is not the one to install.
* A CuPy older than 14 (CuPy 13 follows NumPy 1's type promotion; learnres needs NumPy 2's).
* NumPy outside the range the installed CuPy wheel declares.

And one note on the CPU path: ``OPENBLAS_CORETYPE`` set in the environment to kernels older
than the CPU (AVX2 kernels on a CPU with AVX-512), which slows every matrix product.

Each names the pip extra that installs the right wheel: ``learnres[cuda12]`` or
``learnres[cuda13]`` (``learnres[gpu]`` is ``cuda13``), chosen by the driver's CUDA version.
"""

from __future__ import annotations

import platform
import re
import sys

import numpy as np

from learnres.backend import gpu_report
from learnres.bench.ops import blas_kernels
from learnres.memory import keep_freed_memory, malloc_status
from learnres.parallel import get_num_threads

__all__ = [
    "AVX512_KERNELS",
    "CUDA_EXTRAS",
    "add_arguments",
    "blas_note",
    "diagnose",
    "extra_for_driver",
    "main",
    "notes",
    "numpy_in_range",
    "wheel_cuda_major",
]


def add_arguments(parser) -> None:
    pass


def numpy_in_range(requirement: str | None, version: str = np.__version__) -> bool:
    """Whether ``version`` satisfies a requirement like ``numpy<2.3,>=1.22``.

    Handles the comparison operators wheels declare (>=, >, <=, <, ==, !=) on release
    numbers; an absent requirement is satisfied.
    """
    if not requirement:
        return True

    def release(v: str) -> tuple:
        return tuple(int(p) for p in re.findall(r"\d+", v.split("+")[0])[:3])

    have = release(version)
    for op, want in re.findall(r"(>=|<=|==|!=|>|<)\s*([\w.]+)", requirement):
        w = release(want)
        n = max(len(have), len(w))
        a, b = have + (0,) * (n - len(have)), w + (0,) * (n - len(w))
        ok = {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b, "==": a == b, "!=": a != b}[op]
        if not ok:
            return False
    return True


CUDA_EXTRAS = {12: "cuda12", 13: "cuda13"}  # CUDA major of a CuPy wheel -> learnres's extra
MIN_CUPY = 14


def extra_for_driver(driver: str | None) -> str | None:
    """The extra whose CuPy wheel a driver for CUDA ``driver`` ("13.0") runs best: the newest
    CUDA major not above the driver's; None without a driver or for one older than CUDA 12."""
    if not driver:
        return None
    major = int(driver.split(".")[0])
    fitting = [m for m in CUDA_EXTRAS if m <= major]
    return CUDA_EXTRAS[max(fitting)] if fitting else None


def wheel_cuda_major(package: str | None) -> int | None:
    """The CUDA major a CuPy wheel is built for, from its name: "cupy-cuda13x 14.2.0" -> 13."""
    match = re.match(r"cupy-cuda(\d+)x\b", package or "")
    return int(match.group(1)) if match else None


def _install(extra: str | None) -> str:
    if extra is None:
        return (
            "update the NVIDIA driver: CuPy 14 needs one for CUDA 12 or newer, then "
            "pip install 'learnres[cuda12]' or 'learnres[cuda13]'"
        )
    return f"pip install 'learnres[{extra}]'"


def diagnose(report: dict, numpy_version: str = np.__version__, cupy_packages=None) -> list[str]:
    """The known problems visible in ``report`` (from ``backend.gpu_report``)."""
    problems = []
    packages = [
        p.split()[0]
        for p in (cupy_packages if cupy_packages is not None else report.get("cupy_packages") or [])
    ]
    driver = report.get("cuda_driver")
    extra = extra_for_driver(driver)
    if len(packages) > 1:
        problems.append(
            f"several CuPy wheels are installed ({', '.join(packages)}); they shadow each "
            f"other in one 'cupy' folder: pip uninstall -y {' '.join(packages)}, then "
            + (
                _install(extra)
                if driver
                else "install the one for your driver's CUDA "
                "version (nvidia-smi shows it): pip install 'learnres[cuda12]' or "
                "'learnres[cuda13]'"
            )
        )
    req = report.get("cupy_numpy_requirement")
    if report.get("cupy_package") and not numpy_in_range(req, numpy_version):
        problems.append(
            f"NumPy {numpy_version} is outside the range {report['cupy_package']} supports "
            f"({req}); install a NumPy in that range or a CuPy built for this NumPy"
        )
    version = report.get("cupy")
    if version and int(re.match(r"\d+", version).group()) < MIN_CUPY:
        problems.append(
            f"CuPy {version} is older than {MIN_CUPY}: it follows NumPy 1's type promotion "
            f"(learnres follows NumPy 2's): pip install -U 'learnres[{extra or 'cuda12'}]'"
        )
    runtime = report.get("cuda_runtime")
    wheel = wheel_cuda_major(report.get("cupy_package"))
    needs = runtime or (f"{wheel}.x" if wheel else None)
    if needs and driver and int(needs.split(".")[0]) > int(driver.split(".")[0]):
        problems.append(
            f"the CuPy wheel needs CUDA {needs} but the driver supports CUDA {driver}: "
            f"update the NVIDIA driver, or pip uninstall -y {report['cupy_package'].split()[0]}"
            f" and {_install(extra)}"
        )
    if version and report.get("problem"):
        problems.append(f"CuPy is installed but no GPU is usable: {report['problem']}")
    return problems


def notes(report: dict) -> list[str]:
    """Advice that is not a problem: a wheel for an older CUDA major than the driver's."""
    wheel = wheel_cuda_major(report.get("cupy_package"))
    driver = report.get("cuda_driver")
    extra = extra_for_driver(driver)
    single = len(report.get("cupy_packages") or []) <= 1  # several: a problem already
    if not (wheel and extra and single) or wheel >= int(driver.split(".")[0]):
        return []
    package = report["cupy_package"].split()[0]
    return [
        f"{package} is built for CUDA {wheel}; this driver (CUDA {driver}) runs it too, but "
        f"the matching wheel is learnres[{extra}]: pip uninstall -y {package}; "
        f"{_install(extra)}"
    ]


# OpenBLAS's kernels (the names threadpoolctl reports) that use AVX-512
AVX512_KERNELS = ("skylakex", "cooperlake", "sapphirerapids")


def blas_note(blas: dict) -> str | None:
    """Advice when ``OPENBLAS_CORETYPE`` holds OpenBLAS to kernels without AVX-512 on a CPU
    that has it (left to itself, OpenBLAS picks the CPU's own kernels)."""
    if not (blas["coretype"] and blas["avx512"] and blas["name"].startswith("openblas")):
        return None
    if blas["kernels"].lower() in AVX512_KERNELS:
        return None
    return (
        f"OPENBLAS_CORETYPE={blas['coretype']} is set, so NumPy's OpenBLAS runs its "
        f"{blas['kernels']} kernels on a CPU with AVX-512; unset it (OpenBLAS then picks "
        "kernels for the CPU it detects) or set OPENBLAS_CORETYPE=SkylakeX for faster matrix "
        "products (README, Speed on the CPU, measures both)"
    )


def _blas_row(blas: dict) -> str:
    row = f"{blas['name']}, {blas['kernels']} kernels"
    if blas["coretype"]:
        row += f" (OPENBLAS_CORETYPE={blas['coretype']} in the environment)"
    return row


def main(args) -> int:
    report = gpu_report()
    usable = report["problem"] is None
    keep_freed_memory()  # what every CPU training run does first (learnres.memory)
    extra = extra_for_driver(report["cuda_driver"])
    blas = blas_kernels()
    rows = [
        ("python", f"{sys.version.split()[0]} ({platform.machine()})"),
        ("numpy", np.__version__),
        ("cupy", ", ".join(report["cupy_packages"]) or "not installed"),
        ("cupy's numpy range", report["cupy_numpy_requirement"] or "-"),
        ("CUDA runtime (wheel)", report["cuda_runtime"] or "-"),
        ("CUDA driver", report["cuda_driver"] or "-"),
        ("CuPy for this driver", _install(extra) if report["cuda_driver"] else "-"),
        ("devices", ", ".join(report["devices"]) or "-"),
        ("GPU usable", "yes" if usable else f"no ({report['problem']})"),
        ("CPU threads", str(get_num_threads())),
        ("CPU allocator", malloc_status()),
        ("CPU BLAS (NumPy's)", _blas_row(blas)),
    ]
    try:
        import torch

        rows.insert(2, ("torch (reference)", torch.__version__))
    except ImportError:
        rows.insert(2, ("torch (reference)", "not installed (pip install torch==2.13.0)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    problems = diagnose(report)
    print()
    if problems:
        print("Known problems:")
        for p in problems:
            print(f"  - {p}")
    else:
        print("No known problems." + ("" if usable else " learnres runs on the CPU (NumPy)."))
    advice = notes(report)
    if (note := blas_note(blas)) is not None:
        advice.append(note)
    for note in advice:
        print(f"Note: {note}")
    return 1 if problems else 0
