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
- ``learnres.grading.harness``: how a grader runs the student's code (``exercise.run``) and
  computes the expected values (``exercise.expect``); ``plain`` the data that crosses between
  them; ``guard`` the rules for a submission; ``child`` the process that runs it.
- ``learnres.grading.hints``: hints in three levels (``hint("3.3")``); ``texts`` part texts.
- ``learnres.grading.cli``: ``learnres grade ex3`` and ``grade("ex3")`` for notebooks.
- ``learnres.grading.autograder``: builds the Gradescope zip.

In a notebook::

    from learnres.grading import grade, hint
    grade("ex3")      # the score table of exercise 3
    hint("3.3", 2)    # the first two levels of hints for part 3.3
"""

from learnres.grading.cli import grade
from learnres.grading.gradescope import gradescope_results, write_json_atomic
from learnres.grading.hints import hint
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
    "grade",
    "gradescope_results",
    "hint",
    "trim_text",
    "write_json_atomic",
]
