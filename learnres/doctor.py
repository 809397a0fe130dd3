"""``learnres doctor``: what the GPU path needs, what this machine has, and known problems.

Checks (each printed as a finding with what to do):

* CuPy installed but no usable GPU (no driver, no device, a failing kernel launch).
* A CuPy wheel built for a newer CUDA than the driver supports (``cupy-cuda12x`` built
  against CUDA 12.x needs a driver for CUDA >= 12.0; the runtime it reports must not be
  newer than the driver's CUDA version).
* NumPy outside the range the installed CuPy wheel declares.
* Two CuPy wheels installed at once (``cupy-cuda11x`` and ``cupy-cuda12x``), which shadow
  each other.
"""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata

import numpy as np

from learnres.backend import gpu_report
from learnres.memory import keep_freed_memory, malloc_status
from learnres.parallel import get_num_threads

__all__ = ["add_arguments", "main", "diagnose", "numpy_in_range"]


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


def diagnose(report: dict, numpy_version: str = np.__version__, cupy_packages=()) -> list[str]:
    """The known problems visible in ``report`` (from ``backend.gpu_report``)."""
    problems = []
    if len(cupy_packages) > 1:
        problems.append(
            f"several CuPy wheels are installed ({', '.join(cupy_packages)}); they shadow "
            "each other: keep the one matching your CUDA driver (pip uninstall the others)"
        )
    req = report.get("cupy_numpy_requirement")
    if report.get("cupy_package") and not numpy_in_range(req, numpy_version):
        problems.append(
            f"NumPy {numpy_version} is outside the range {report['cupy_package']} supports "
            f"({req}); install a NumPy in that range or a CuPy built for this NumPy"
        )
    runtime, driver = report.get("cuda_runtime"), report.get("cuda_driver")
    if runtime and driver:
        as_tuple = [tuple(int(p) for p in v.split(".")) for v in (runtime, driver)]
        if as_tuple[0][0] > as_tuple[1][0]:
            problems.append(
                f"the CuPy wheel needs CUDA {runtime} but the driver supports CUDA {driver}: "
                "update the NVIDIA driver or install the CuPy wheel for your CUDA "
                f"(cupy-cuda{as_tuple[1][0]}x)"
            )
    if report.get("cupy") and report.get("problem"):
        problems.append(f"CuPy is installed but no GPU is usable: {report['problem']}")
    return problems


def main(args) -> int:
    report = gpu_report()
    cupy_packages = sorted(
        {
            (d.metadata["Name"] or "").lower()
            for d in metadata.distributions()
            if (d.metadata["Name"] or "").lower().startswith("cupy")
        }
    )
    usable = report["problem"] is None
    keep_freed_memory()  # what every CPU training run does first (learnres.memory)
    rows = [
        ("python", f"{sys.version.split()[0]} ({platform.machine()})"),
        ("numpy", np.__version__),
        ("cupy", report["cupy_package"] or "not installed"),
        ("cupy's numpy range", report["cupy_numpy_requirement"] or "-"),
        ("CUDA runtime (wheel)", report["cuda_runtime"] or "-"),
        ("CUDA driver", report["cuda_driver"] or "-"),
        ("devices", ", ".join(report["devices"]) or "-"),
        ("GPU usable", "yes" if usable else f"no ({report['problem']})"),
        ("CPU threads", str(get_num_threads())),
        ("CPU allocator", malloc_status()),
    ]
    try:
        import torch

        rows.insert(2, ("torch (reference)", torch.__version__))
    except ImportError:
        rows.insert(2, ("torch (reference)", "not installed (pip install torch==2.13.0)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    problems = diagnose(report, cupy_packages=cupy_packages)
    print()
    if problems:
        print("Known problems:")
        for p in problems:
            print(f"  - {p}")
    else:
        print("No known problems." + ("" if usable else " learnres runs on the CPU (NumPy)."))
    return 1 if problems else 0
