"""Scoring graded exercises with pytest (see ``learnres.grading.plugin``)."""
