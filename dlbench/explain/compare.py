"""The backends' breakdowns side by side: one row per layer group (or time outside the layers), each
backend's milliseconds (forward / backward), share of its step and ratio to the fastest backend on
that row, the rows that explain most of the gap between the backends' steps first.

A backend whose profiler could not attribute its layers shows its isolated layer timings instead,
marked as such: a layer timed alone has no fusion, so those rows are not shares of the step, and
they are compared only with other isolated figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlbench.explain.breakdown import total

PROFILED, ISOLATED = "profiled", "isolated"
#: rows under this share of the step on every backend are shown together, as one line
MIN_SHARE = 0.01


@dataclass
class Cell:
    forward_s: float
    backward_s: float
    other_s: float
    source: str  # profiled or isolated
    share: float | None = None  # of the backend's profiled step (of its isolated sum, for isolated cells)
    ratio: float | None = None  # to the fastest backend on this row, among cells of the same source

    @property
    def total_s(self) -> float:
        return self.forward_s + self.backward_s + self.other_s


@dataclass
class Row:
    group: str
    kind: str
    layers: int | None
    cells: dict[str, Cell] = field(default_factory=dict)
    gap_s: float = 0.0  # the most this row adds to a slower backend's step over the fastest's


@dataclass
class Comparison:
    backends: list[str]
    steps_s: dict[str, float]  # each backend's mean profiled step
    rows: list[Row]
    headline: list[str]


def _cells(record: dict) -> dict[str, tuple[str, Cell]]:
    b = record["breakdown"]
    out = {}
    for r in b.get("rows", []):
        if b["attributable"] or r["kind"] != "layer":
            out[r["group"]] = (r["kind"], Cell(r["forward_s"], r["backward_s"], r["other_s"], PROFILED))
    iso = b.get("isolated") or {}
    if not b["attributable"] and iso:
        alone = sum(r["forward_s"] + r["backward_s"] for r in iso["rows"]) or 1.0
        for r in iso["rows"]:
            cell = Cell(r["forward_s"], r["backward_s"], 0.0, ISOLATED)
            cell.share = cell.total_s / alone
            out[r["group"]] = ("layer", cell)
    return out


def compare(records: dict[str, dict]) -> Comparison:
    """``records``: each backend's (label's) explain record."""
    names = list(records)
    steps = {n: records[n]["breakdown"]["sum"]["step_s"] for n in names}
    layers: dict[str, int] = {}
    for rec in records.values():
        for r in rec["breakdown"].get("rows", []) + list((rec["breakdown"].get("isolated") or {}).get("rows", [])):
            if r.get("kind", "layer") == "layer":
                layers[r["group"]] = max(layers.get(r["group"], 0), len(r.get("nodes", ())) or r.get("layers", 0))
    rows: dict[str, Row] = {}
    for n in names:
        for group, (kind, cell) in _cells(records[n]).items():
            row = rows.setdefault(group, Row(group, kind, layers.get(group) if kind == "layer" else None))
            if cell.source == PROFILED:
                cell.share = cell.total_s / steps[n]
            row.cells[n] = cell
    fastest = min(names, key=steps.get)
    for row in rows.values():
        for source in (PROFILED, ISOLATED):
            same = [c for c in row.cells.values() if c.source == source]
            low = min((c.total_s for c in same), default=0.0)
            for c in same:
                c.ratio = c.total_s / low if low > 0 else None
        base = row.cells.get(fastest)
        base_s = base.total_s if base is not None and base.source == PROFILED else 0.0
        row.gap_s = max((c.total_s - base_s for n, c in row.cells.items() if n != fastest and c.source == PROFILED),
                        default=0.0)
    ordered = sorted(rows.values(), key=lambda r: (-r.gap_s, -max(c.total_s for c in r.cells.values())))
    return Comparison(names, steps, ordered, _headline(names, steps, fastest, ordered))


def _headline(names: list[str], steps: dict[str, float], fastest: str, rows: list[Row]) -> list[str]:
    lines = []
    for n in names:
        if n == fastest:
            continue
        gap = steps[n] - steps[fastest]
        own = [r for r in rows if n in r.cells and r.cells[n].source == PROFILED]
        if gap <= 0 or not own:
            continue
        base = lambda r: r.cells[fastest].total_s if fastest in r.cells and r.cells[fastest].source == PROFILED else 0.0  # noqa: E731
        top = max(own, key=lambda r: r.cells[n].total_s - base(r))
        part = top.cells[n].total_s - base(top)
        lines.append(f"{n}'s profiled step is {steps[n] / steps[fastest]:.1f}× {fastest}'s "
                     f"({steps[n] * 1e3:,.1f} ms against {steps[fastest] * 1e3:,.1f} ms): **{top.group}** accounts for "
                     f"{part * 1e3:,.1f} ms of the {gap * 1e3:,.1f} ms gap ({part / gap:.0%}); it takes "
                     f"{top.cells[n].share:.0%} of {n}'s step"
                     + (f" and {top.cells[fastest].share:.0%} of {fastest}'s" if fastest in top.cells
                        and top.cells[fastest].source == PROFILED else "") + ".")
    return lines


def ms(seconds: float) -> str:
    value = seconds * 1e3
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def _cell_text(cell: Cell | None, attributable: bool) -> tuple[str, str, str]:
    if cell is None:
        return ("not attributable" if not attributable else "—"), "", ""
    split = f" ({ms(cell.forward_s)} / {ms(cell.backward_s)})" if cell.forward_s or cell.backward_s else ""
    mark = " (isolated)" if cell.source == ISOLATED else ""
    share = f"{cell.share:.1%}" + (" of isolated sum" if cell.source == ISOLATED else "") if cell.share is not None else ""
    ratio = f"{cell.ratio:.2f}×" if cell.ratio is not None else ""
    return f"{ms(cell.total_s)}{split}{mark}", share, ratio


def table(c: Comparison, attributable: dict[str, bool], min_share: float = MIN_SHARE) -> list[list[str]]:
    """The comparison as rows of text (the first is the header): rows under ``min_share`` of the step
    on every backend are summed into one."""
    header = ["layer group", "layers"]
    for n in c.backends:
        header += [f"{n} ms (fwd / bwd)", f"{n} share", f"{n} × fastest"]
    out = [header]
    small: dict[str, float] = {}
    hidden = 0
    for row in c.rows:
        if all((cell.share or 0) < min_share for cell in row.cells.values()):
            hidden += 1
            for n, cell in row.cells.items():
                if cell.source == PROFILED:
                    small[n] = small.get(n, 0.0) + cell.total_s
            continue
        line = [row.group, "" if row.layers is None else str(row.layers)]
        for n in c.backends:
            line += _cell_text(row.cells.get(n), attributable[n] or row.kind != "layer")
        out.append(line)
    if hidden:
        line = [f"{hidden} other rows, each under {min_share:.0%} of every step", ""]
        for n in c.backends:
            line += [ms(small.get(n, 0.0)), f"{small.get(n, 0.0) / c.steps_s[n]:.1%}", ""]
        out.append(line)
    line = ["**profiled step**", ""]
    for n in c.backends:
        line += [f"**{ms(c.steps_s[n])}**", "100%", f"{c.steps_s[n] / min(c.steps_s.values()):.2f}×"]
    out.append(line)
    return out


def markdown(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    fmt = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, rows[1:])])


def notes(records: dict[str, dict]) -> list[str]:
    """Per backend: its settings, the profiler's overhead, and the sum against the step (the residual)."""
    lines = []
    for n, rec in records.items():
        b, s = rec["breakdown"], rec["breakdown"]["sum"]
        settings = ", ".join(f"{k}={v}" for k, v in (rec.get("backend") or {}).get("settings", {}).items())
        mode = (rec.get("tuning") or {}).get("mode")
        how = {"cached": "the tuned settings (cached)", "tuned": "the tuned settings", "pinned": "pinned settings",
               "off": "the framework defaults (--no-tune)"}.get(mode, "the framework defaults (no tuned choice cached)")
        o = b["overhead"]
        inferred = sum(r["inferred_s"] for r in b["rows"])
        lines.append(
            f"- **{n}** at {how}: {settings or 'no settings'}. {b['profiler']}. Profiling overhead: profiled step "
            f"{ms(o['profiled_s'])} ms against {ms(o['unprofiled_s'])} ms unprofiled (median; ×{o['ratio']:.2f}). "
            f"Sum: layers {ms(s['layers_s'])} + unattributed {ms(s['unattributed_s'])} + optimizer "
            f"{ms(s['optimizer_s'])} = {ms(s['rows_s'])} ms against the step's {ms(s['step_s'])} ms on the host's clock: "
            f"residual {ms(s['residual_s'])} ms ({s['residual_s'] / s['step_s']:+.1%}; tolerance ±{s['tolerance']:.0%}"
            f"{'' if s['within_tolerance'] else ', EXCEEDED'})."
            + (f" {ms(inferred)} ms attributed through the data flow." if inferred else "")
            + ("" if b["attributable"] else f" Layers not attributable: {b['note']}; isolated timings instead.")
        )
    return lines
