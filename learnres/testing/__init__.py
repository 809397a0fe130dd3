"""Checking tools for tests and exercises: numerical gradients and parity with PyTorch."""

from learnres.testing.gradcheck import GradcheckReport, InputCheck, gradcheck, numerical_gradient
from learnres.testing.parity import (
    FLOAT32_RTOL,
    FLOAT64_RTOL,
    ParityResult,
    compare_with_torch,
    default_rtol,
    relative_error,
)

__all__ = [
    "gradcheck",
    "numerical_gradient",
    "GradcheckReport",
    "InputCheck",
    "compare_with_torch",
    "ParityResult",
    "relative_error",
    "default_rtol",
    "FLOAT32_RTOL",
    "FLOAT64_RTOL",
]
