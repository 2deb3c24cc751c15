"""Which layers each instruction of a compiled XLA program computes, read from its HLO text
(``compiled.as_text()``; TensorFlow's ``optimized_hlo``): every instruction carries the op name
of what it was lowered from (``metadata={op_name="jit(train)/transpose(jvp(GraphModule))/conv5/..."}``),
where the framework's scopes name the layer, and a fusion carries those of the instructions it fused.

XLA's rewrites leave some instructions without metadata (a YNNPACK convolution, a layout copy): those
take the layers of the nearest instructions that consume their result (else of those that produce
their inputs), forward or backward ones first, and are marked as attributed through the data flow.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s")
_INSTRUCTION = re.compile(r"^\s+(?:ROOT\s+)?%([\w.\-]+)\s*=\s*(.*)$")
_OP_NAME = re.compile(r'op_name="((?:[^"\\]|\\.)*)"')
_CALLED = re.compile(r"\b(?:calls|body|condition|to_apply|branch_computations|called_computations)=(\{[^}]*\}|%[\w.\-]+)")
_REFERENCE = re.compile(r"%([\w.\-]+)")

#: ``classify(op_name)``: the (owner, phase) an op name says, or None where it says nothing. The owner
#: is a node name or a label outside the layers (``loss``, ``optimizer``); phase: forward, backward,
#: optimizer or other
Classify = Callable[[str], "tuple[str, str] | None"]

PHASES = ("backward", "forward", "optimizer", "other")  # a mix of phases is the first of these it holds


@dataclass(frozen=True)
class Attribution:
    owners: frozenset[str]
    phase: str
    inferred: bool  # True: through the data flow, the instruction itself carries no op name


@dataclass
class _Instruction:
    computation: str
    op_name: str | None
    operands: list[str]
    called: list[str]


class Program:
    """An HLO module's instructions: op names, operands, called computations."""

    def __init__(self, text: str):
        self.instructions: dict[str, _Instruction] = {}
        self.computations: dict[str, list[str]] = defaultdict(list)
        current = None
        for line in text.splitlines():
            if not line.startswith(" "):
                m = _COMPUTATION.match(line)
                current = m.group(1) if m else current
                continue
            m = _INSTRUCTION.match(line)
            if m is None or current is None:
                continue
            name, rest = m.groups()
            meta = _OP_NAME.search(rest)
            head = rest.split(", metadata=")[0]
            called = [c for group in _CALLED.findall(head) for c in _REFERENCE.findall(group)]
            operands = [r for r in _REFERENCE.findall(head) if r not in called]
            self.instructions[name] = _Instruction(current, meta.group(1) if meta else None, operands, called)
            self.computations[current].append(name)
        self.users: dict[str, list[str]] = defaultdict(list)
        for name, ins in self.instructions.items():
            for op in ins.operands:
                if op in self.instructions and self.instructions[op].computation == ins.computation:
                    self.users[op].append(name)

    def attribute(self, classify: Classify) -> dict[str, Attribution]:
        """Every instruction's layers and phase, where its own op names, those of what it calls, or
        (failing both) its neighbours' say them."""
        memo: dict[str, frozenset] = {}

        def own(name: str) -> frozenset:
            if name not in memo:
                memo[name] = frozenset()  # a cycle through called computations ends here
                ins = self.instructions[name]
                tags = {t for t in [classify(ins.op_name)] if t} if ins.op_name else set()
                for comp in ins.called:
                    for inner in self.computations.get(comp, ()):
                        tags |= own(inner)
                memo[name] = frozenset(tags)
            return memo[name]

        out = {}
        for name in self.instructions:
            tags, inferred = own(name), False
            if not tags:
                tags, inferred = self._nearest(name, own), True
            if tags:
                phases = {p for _, p in tags}
                out[name] = Attribution(frozenset(o for o, _ in tags), next(p for p in PHASES if p in phases), inferred)
        return out

    def _nearest(self, name: str, own: Callable[[str], frozenset]) -> frozenset:
        """The tags of the nearest consumers that have any, else of the nearest producers."""
        for step in (lambda n: self.users.get(n, ()), lambda n: self.instructions[n].operands):
            frontier, seen = [name], {name}
            while frontier:
                found: set = set()
                following = []
                for n in frontier:
                    for m in step(n):
                        if m in seen or m not in self.instructions:
                            continue
                        seen.add(m)
                        following.append(m)
                        found |= own(m)
                if found:  # a gradient that an optimizer update consumes belongs to the backward pass
                    layers = {t for t in found if t[1] in ("forward", "backward")}
                    return frozenset(layers or found)
                frontier = following
        return frozenset()
