"""Scoring graded exercises with pytest.

- ``learnres.grading.plugin``: the pytest plugin (``@pytest.mark.points(n)``, the score table,
  ``--gradescope-json PATH``); pytest loads it automatically through its entry point.
- ``learnres.grading.scoreboard``: the scoring rules, free of pytest.
- ``learnres.grading.gradescope``: Gradescope's ``results.json``.
- ``learnres.grading.exercises``: what each exercise copies from learnres and what the student
  writes; ``python -m learnres.grading.exercises`` regenerates ``exercises/`` (``--check``
  fails when it is out of date).
- ``learnres.grading.generate``: extracting, stubbing and rendering the exercise files.
- ``learnres.grading.checks``: the graders' comparisons with PyTorch and numerical gradients,
  with messages that teach.
- ``learnres.grading.mutants``: planted bugs that prove the graders.
"""

from learnres.grading.gradescope import gradescope_results, write_json_atomic
from learnres.grading.scoreboard import (
    PHASES,
    ExerciseScore,
    GradedTest,
    Scoreboard,
    format_points,
    trim_text,
)

__all__ = [
    "PHASES",
    "ExerciseScore",
    "GradedTest",
    "Scoreboard",
    "format_points",
    "gradescope_results",
    "trim_text",
    "write_json_atomic",
]
