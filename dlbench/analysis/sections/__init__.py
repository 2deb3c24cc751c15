"""Optional report sections, one module each (time-to-accuracy, inference, scaling, breakdown...).

A section module defines ``render(df: pandas.DataFrame, out: pathlib.Path, plots: bool) -> list[str]``:
the markdown lines of its section for the records in ``df`` (all records, failed ones included), or
``[]`` when no record concerns it. It may write PNG plots beside ``out`` as ``<out.stem>-<name>.png``.
The report renders them in the order of :data:`SECTIONS`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: module names under dlbench.analysis.sections, in report order
SECTIONS: tuple[str, ...] = ("time_to_accuracy", "inference", "scaling", "breakdown")


def modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{name}") for name in SECTIONS]
