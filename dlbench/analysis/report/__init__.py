"""``dlbench report``: a markdown report of result records that opens with the verdict, with PNG
plots beside it. Modules: cells (per-configuration aggregation), verdict, tables, plots, document."""

from __future__ import annotations

from dlbench.analysis.report.cells import cell_table, label
from dlbench.analysis.report.document import SectionFailed, render, write_report

__all__ = ["SectionFailed", "cell_table", "label", "render", "write_report"]
