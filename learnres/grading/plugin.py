"""The pytest plugin that scores exercises (placeholder until the grading work lands)."""
