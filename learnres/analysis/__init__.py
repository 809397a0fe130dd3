"""Looking at models: ``summary`` (layers, output shapes, parameters, mult-adds)."""

from learnres.analysis.summary import LayerRow, Summary, format_count, summary

__all__ = ["summary", "Summary", "LayerRow", "format_count"]
