"""``dlbench explain`` on PyTorch: ``torch.profiler`` over the real step.

Forward: a ``record_function`` range per node, entered and left by forward pre- and post-hooks on
the node's module (installed for the profiled steps only). Backward: each autograd function's
``sequence_nr`` is the one of the forward op that recorded it, so it belongs to that op's node.
The optimizer's ``step`` and ``zero_grad`` are ranges of their own. Under ``torch.compile`` the
model runs as one inductor program the profiler cannot split into layers: not attributable.
"""

from __future__ import annotations

import contextlib
import time

import torch
import torch.nn.functional as F
from torch.autograd.profiler import record_function

from dlbench.explain.breakdown import NOT_ATTRIBUTABLE, OPTIMIZER, OUTSIDE

STEP, NODE = "dlbench.step", "dlbench.node::"
BACKWARD = "autograd::engine::evaluate_function: "
COMPILED = f"{NOT_ATTRIBUTABLE}: one torch.compile program"
ACCUMULATE = "gradient accumulation (autograd)"


def prepare(backend, model, graph, folder: str) -> None:
    """Nothing to change: the hooks are added while profiling only."""


def _node_modules(module: torch.nn.Module, names) -> dict[str, torch.nn.Module]:
    found: dict[str, torch.nn.Module] = {}
    for path, sub in module.named_modules():
        leaf = path.rpartition(".")[2]
        if leaf in names and leaf not in found:
            found[leaf] = sub
    return found


@contextlib.contextmanager
def _node_ranges(module: torch.nn.Module, graph):
    open_ranges: list = []

    def enter(name):
        def hook(mod, args):
            r = record_function(NODE + name)
            r.__enter__()
            open_ranges.append(r)
        return hook

    def leave(mod, args, out):
        open_ranges.pop().__exit__(None, None, None)

    handles = []
    for name, sub in _node_modules(module, {n.name for n in graph.nodes}).items():
        handles += [sub.register_forward_pre_hook(enter(name)), sub.register_forward_hook(leave)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def profile(backend, model, graph, optimizer, step, batch, steps: int, folder: str) -> dict:
    compiled = bool(backend.settings.get("compile"))
    activities = [torch.profiler.ProfilerActivity.CPU]
    host = []
    with contextlib.ExitStack() as stack:
        if not compiled:
            stack.enter_context(_node_ranges(model.module, graph))
        prof = stack.enter_context(torch.profiler.profile(activities=activities))
        for _ in range(steps):
            start = time.perf_counter()
            with record_function(STEP):
                backend.sync(step(*batch))
            host.append(time.perf_counter() - start)
    events = prof.events()
    windows = [e for e in events if e.name == STEP]
    owner_of = _forward_owners(events)
    ops = []
    for e in events:
        if e.cpu_parent is None or e.cpu_parent.name != STEP:
            continue
        owner, phase = _classify(e, owner_of, compiled)
        ops.append((e.time_range.start * 1e-6, e.time_range.end * 1e-6, (owner,), phase, False))
    note = ("backward ops belong to the node of the forward op that recorded them (autograd sequence numbers); "
            "a node's forward is its module's call, Python included")
    return {"profiler": "torch.profiler: a record_function range per node (forward hooks), autograd sequence "
                        "numbers for the backward",
            "attributable": not compiled,
            "note": "torch.compile: " + COMPILED if compiled else note,
            "steps": [(w.time_range.start * 1e-6, w.time_range.end * 1e-6) for w in windows],
            "host_step_s": host, "ops": ops}


def _forward_owners(events) -> dict[int, str]:
    """Each forward op's sequence number -> its node (or the label of ops outside the layers)."""
    owners: dict[int, str] = {}
    for e in events:
        if e.sequence_nr is None or e.sequence_nr < 0 or e.name.startswith(BACKWARD):
            continue
        parent = e.cpu_parent
        while parent is not None and not parent.name.startswith(NODE) and parent.name != STEP:
            parent = parent.cpu_parent
        if parent is not None and parent.name.startswith(NODE):
            owners[e.sequence_nr] = parent.name[len(NODE):]
        else:
            owners.setdefault(e.sequence_nr, OUTSIDE)
    return owners


def _classify(e, owner_of: dict[int, str], compiled: bool) -> tuple[str, str]:
    if e.name.startswith(NODE):
        return e.name[len(NODE):], "forward"
    if e.name.startswith("Optimizer."):
        return OPTIMIZER, "optimizer"
    if e.name.startswith(BACKWARD):
        if "AccumulateGrad" in e.name:
            return ACCUMULATE, "backward"
        if "CompiledFunction" in e.name:
            return COMPILED, "backward"
        return owner_of.get(e.sequence_nr, OUTSIDE), "backward"
    if compiled and "ompiled" in e.name:  # "Torch-Compiled Region", "CompiledFunction"
        return COMPILED, "forward"
    return OUTSIDE, "forward"


def isolated_steps(backend, model):
    """(forward(x), forward_backward(x, y)) in training mode, each waiting for its result; the
    backward takes the gradients of the parameters and of the input."""
    module, forward = model.module, model.forward
    module.train()

    def fwd(x):
        backend.sync(forward(x.detach().requires_grad_()))

    def fwd_bwd(x, y):
        module.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(x.detach().requires_grad_()), y)
        loss.backward()
        backend.sync(loss)

    return fwd, fwd_bwd
