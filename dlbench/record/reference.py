"""The reference page of the result record, generated from the schema.

``python -m dlbench.record.reference [PATH]`` writes it (by default to the checkout's
``docs/reference/record.md``); a test checks that the committed page is what the schema generates.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dlbench.files import write_atomic
from dlbench.record.migrations import MIGRATIONS
from dlbench.record.schema import RECORD, REFERENCE, SCHEMA, SECTIONS
from dlbench.record.types import Field, ListOf, Object, Type, Union

INTRO = f"""\
<!-- generated from dlbench/record/schema.py by `python -m dlbench.record.reference`: do not edit -->

# The result record

Every run writes one JSON record (`dlbench run --json` prints it; `--output DIR` and `dlbench sweep`
save it as a file); this page lists every field it may hold. The record's `schema` is
`{SCHEMA}`. A record is checked against the schema when it is built, saved and read: a key the
schema does not declare, or a value of the wrong type, is an error that names the field. Where a
section's keys are open (a backend's own settings and versions), the row `*` says what the other
keys hold. No field is required: a failed run's sections are empty, and older records lack fields
added since. A record of an older schema is migrated when it is read (see [Versions](#versions)).
How each figure is measured: [What a run measures](../measuring/index.md) and the pages beside it.

Types are JSON's; a `number` may be written as an integer. Units: `s` seconds, `bytes`, `FLOP`
floating-point operations, `FLOP/s`, `samples/s`, `MAC` multiply-accumulates, `epochs`, `count`,
`fraction` (0 to 1).
"""


def page() -> str:
    """The reference page, in Markdown."""
    top = Object({name: f for name, f in RECORD.fields.items() if name not in SECTIONS})
    lines = [INTRO, "## Top level", "", *_table(rows(top)),
             "", "The sections:", "", *(f"- [`{name}`](#{name}): {meaning}" for name, (_, meaning) in SECTIONS.items())]
    for name, (section, meaning) in SECTIONS.items():
        lines += ["", f"## `{name}`", "", meaning[0].upper() + meaning[1:] + ".", "", *_table(rows(section))]
    lines += ["", "## Versions", "", "| from | to | what changed |", "|---|---|---|"]
    lines += [f"| `{old}` | `{m.to}` | {m.change} |" for old, m in MIGRATIONS.items()]
    return "\n".join(lines) + "\n"


def rows(obj: Object, prefix: str = "") -> list[tuple[str, Field]]:
    """Every field of ``obj``, then those of the objects inside it under dotted names."""
    out = []
    for name, field in obj.fields.items():
        out.append((prefix + name, field))
        for joint, inner in _inside(field.type):
            out += rows(inner, prefix + name + joint)
    if obj.other is not None and obj.fields:
        out.append((prefix + "*", obj.other))
    return out


def _inside(t: Type) -> list[tuple[str, Object]]:
    """The objects with declared fields that a value of type ``t`` holds, and how their names join."""
    if isinstance(t, Union):
        return [found for option in t.options for found in _inside(option)]
    if isinstance(t, ListOf):
        return [("[]" + joint, inner) for joint, inner in _inside(t.item)]
    return [(".", t)] if isinstance(t, Object) and t.fields else []


def _table(rows: list[tuple[str, Field]]) -> list[str]:
    return ["| field | type | unit | meaning |", "|---|---|---|---|",
            *(f"| `{name}` | {f.type.name} | {f.unit or ''} | {f.meaning.replace('|', '/')} |" for name, f in rows)]


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else Path(__file__).resolve().parents[2] / REFERENCE
    write_atomic(target, page())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
