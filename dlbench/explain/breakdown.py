"""A profiled step added up per layer group: the record's ``breakdown`` rows, and the sum that
checks them against the step's own clock.

A backend's ``profile`` returns plain data: each profiled step's window on the trace's clock and
on the host's, and the ops as ``(begin, end, owners, phase, inferred)`` intervals of their own
time; owners are node names, or a label for time outside the layers (``loss``, ``optimizer``...).
Overlapping ops share wall time (:mod:`.timeline`); what no op covers inside a step's window is a
row of its own (the framework's dispatch and synchronisation, or a thread waiting for a core on a
busy machine), and time the host clock saw outside the windows is the residual.
"""

from __future__ import annotations

from collections import Counter

from dlbench.explain import timeline
from dlbench.explain.groups import kind_name, node_groups
from dlbench.graph import Graph

#: the sum of the rows may differ from the host's step time by this share of it (the residual):
#: the Python call around the traced window and the profiler's own bookkeeping
TOLERANCE = 0.05
# the labels of time outside the layers, the same on every backend (a backend's profile module uses them)
OPTIMIZER, OVERHEAD = "optimizer", "no op running (dispatch, synchronisation, waiting for a core)"
OUTSIDE = "loss and other ops outside the layers"
RANDOM = "random numbers (dropout keys)"
NOT_ATTRIBUTABLE = "not attributable"  # a prefix: "not attributable: one torch.compile program"
SHORT = {OUTSIDE: "loss", RANDOM: "random numbers"}  # in the names of fusions


def _row_of(owners: tuple[str, ...], groups: dict[str, str], kinds: dict[str, str]) -> tuple[str, str]:
    """(the row's label, its kind: layer, fusion, optimizer, outside, not attributable). Ops shared by
    layers of one group stay in that group; across groups (or with time outside the layers) they are a
    fusion, named by the kinds it holds."""
    in_groups = {groups[o] for o in owners if o in groups}
    labels = [o for o in owners if o not in groups]
    if len(in_groups) == 1 and not labels:
        return in_groups.pop(), "layer"
    if len(owners) == 1:
        label = owners[0]
        kind = "optimizer" if label == OPTIMIZER else "not attributable" if label.startswith(NOT_ATTRIBUTABLE) \
            else "outside"
        return label, kind
    parts = sorted({kinds[o] if o in kinds else SHORT.get(o, o) for o in owners})
    return "fused: " + " + ".join(parts), "fusion"


def build(graph: Graph, trace: dict) -> dict:
    """The ``breakdown`` figures of one backend's profiled steps: rows per group, mean per step."""
    groups = node_groups(graph)
    kinds = {n.name: kind_name(n.layer) for n in graph.nodes}
    ops = [(b, e, (tuple(owners), phase, inferred)) for b, e, owners, phase, inferred in trace["ops"]]
    shares: Counter = Counter()
    busy = 0.0
    for start, end in trace["steps"]:
        s, covered = timeline.exclusive(ops, start, end)
        shares.update(s)
        busy += covered
    n = len(trace["steps"])
    window = sum(end - start for start, end in trace["steps"]) / n
    rows: dict[str, dict] = {}
    for (owners, phase, inferred), seconds in shares.items():
        label, kind = _row_of(owners, groups, kinds)
        row = rows.setdefault(label, {"group": label, "kind": kind, "nodes": [], "forward_s": 0.0,
                                      "backward_s": 0.0, "other_s": 0.0, "inferred_s": 0.0})
        column = f"{phase}_s" if phase in ("forward", "backward") else "other_s"
        row[column] += seconds / n
        row["inferred_s"] += seconds / n if inferred else 0.0
        row["nodes"] = sorted(set(row["nodes"]) | {o for o in owners if o in groups}, key=list(groups).index)
    rows[OVERHEAD] = {"group": OVERHEAD, "kind": "overhead", "nodes": [], "forward_s": 0.0, "backward_s": 0.0,
                      "other_s": window - busy / n, "inferred_s": 0.0}
    ordered = sorted(rows.values(), key=lambda r: -total(r))
    host = sum(trace["host_step_s"]) / n
    return {"rows": ordered, "sum": summed(ordered, host)}


def total(row: dict) -> float:
    return row["forward_s"] + row["backward_s"] + row["other_s"]


def summed(rows: list[dict], step_s: float) -> dict:
    """Layers + unattributed + optimizer against the host's mean profiled step: the residual, and
    whether it is within :data:`TOLERANCE`."""
    by = Counter()
    for r in rows:
        by["layers" if r["kind"] == "layer" else "optimizer" if r["kind"] == "optimizer" else "unattributed"] += total(r)
    rows_s = sum(by.values())
    residual = step_s - rows_s
    return {"layers_s": by["layers"], "unattributed_s": by["unattributed"], "optimizer_s": by["optimizer"],
            "rows_s": rows_s, "step_s": step_s, "residual_s": residual, "tolerance": TOLERANCE,
            "within_tolerance": abs(residual) <= TOLERANCE * step_s}
