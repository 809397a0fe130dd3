"""Derive before the reveal: a chapter poses a derivation, the student writes the result as a
function, and ``check_derivation`` compares it numerically with what the package computes
— before the chapter shows the worked derivation.

    def bn_backward_yours(x, gamma, g):
        return None                      # the stub a chapter ships: "not attempted yet"

    print(check_derivation(bn_backward_yours, bn_grad_from_learnres, cases, what="dL/dx"))

The stub a chapter ships returns None (or raises NotImplementedError), so the chapter still
runs top to bottom: the verdict is then "not attempted yet". Otherwise every case is tried
and the verdict is "correct" or says where the answer is off and by how much. A wrong or
crashing answer never raises: the student reads the verdict and tries again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Verdict", "check_derivation"]


@dataclass
class Verdict:
    """``status``: "not attempted", "correct" or "wrong"; ``message`` says why."""

    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __str__(self) -> str:
        return self.message


def check_derivation(
    yours, reference, cases, *, what: str = "your answer", rtol: float = 1e-7, atol: float = 1e-9
) -> Verdict:
    """Compare ``yours(*case)`` with ``reference(*case)`` for every argument tuple in
    ``cases`` (arrays or numbers; the reference is what the package computes).

    Returns a ``Verdict``: "not attempted" when ``yours`` returns None or raises
    NotImplementedError on the first case; "wrong" when it raises, returns the wrong shape,
    or differs by more than ``atol + rtol * |reference|`` somewhere (the message names the
    case, the worst index, both values); "correct" otherwise.
    """
    cases = list(cases)
    if not cases:
        raise ValueError("check_derivation needs at least one case to try")
    for k, case in enumerate(cases):
        try:
            mine = yours(*case)
        except NotImplementedError:
            if k == 0:
                return Verdict(
                    "not attempted",
                    f"{what}: not attempted yet (the stub is "
                    "untouched); derive it, fill it in, run again.",
                )
            mine = None
        except Exception as e:  # the student's code failed: say so, do not stop the notebook
            return Verdict(
                "wrong",
                f"{what}: your function raised {type(e).__name__}: {e} "
                f"(case {k + 1} of {len(cases)})",
            )
        if mine is None:
            if k == 0:
                return Verdict(
                    "not attempted",
                    f"{what}: not attempted yet (the stub returns "
                    "None); derive it, fill it in, run again.",
                )
            return Verdict("wrong", f"{what}: returned None for case {k + 1}")
        expected = np.asarray(reference(*case), dtype=float)
        try:
            mine = np.asarray(mine, dtype=float)
        except (TypeError, ValueError) as e:
            return Verdict("wrong", f"{what}: cannot read your result as numbers ({e})")
        if mine.shape != expected.shape:
            return Verdict(
                "wrong", f"{what}: shape {mine.shape}, expected {expected.shape} (case {k + 1})"
            )
        error = np.abs(mine - expected) - (atol + rtol * np.abs(expected))
        if np.any(~np.isfinite(mine)) or np.any(error > 0):
            badness = np.where(np.isfinite(mine), np.nan_to_num(error, nan=np.inf), np.inf)
            worst = np.unravel_index(int(np.argmax(badness)), expected.shape)
            at = f" at index {tuple(int(i) for i in worst)}" if expected.shape else ""
            largest = np.max(np.abs(np.nan_to_num(mine - expected, nan=np.inf)))
            return Verdict(
                "wrong",
                f"{what}: not yet. Case {k + 1} of {len(cases)}{at}: "
                f"yours {mine[worst]:.6g}, the package's {expected[worst]:.6g} "
                f"(largest difference {largest:.3g})",
            )
    n = f"all {len(cases)} random cases" if len(cases) > 1 else "the random case"
    within = f"to {rtol:g} relative" if rtol else "exactly"
    return Verdict("correct", f"{what}: correct — it matches the package on {n} ({within}).")
