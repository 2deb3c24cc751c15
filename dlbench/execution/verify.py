"""``dlbench verify``, in the parent: each backend computes its outputs in a worker of its own
(:mod:`dlbench.measure.verify`), and every pair is compared here.

In float32 two correct implementations still differ by round-off (summation order, fused
kernels), and SGD on a deep network amplifies that difference step by step: AlexNet-size models
drift by ~1 % within 20 steps even against themselves. ``dtype="float64"`` removes the round-off,
so any remaining difference is a real one in the model or the optimiser, and the bounds can be
six orders of magnitude tighter.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np

from dlbench.config import RunConfig
from dlbench.execution import isolation


@dataclass(frozen=True)
class Tolerance:
    """Relative bounds: initial logits (round-off only) and after training (grows per step)."""

    logits: float = 1e-5
    trained: float = 1e-3

    @classmethod
    def default(cls, dtype: str, precision: str = "float32") -> Tolerance:
        """Bounds that fit the arithmetic. Mixed precision rounds every conv/matmul input to the low
        format, so backends that order or fuse differently differ by its rounding, not float32's:
        bfloat16 keeps 8 significant bits (unit round-off 2**-9 ~ 2e-3), float16 11 (2**-12 ~ 2.4e-4).
        Measured on LeNet-5 (verify's defaults: batch 8, 20 sgd steps) across torch, tensorflow and jax:
        bfloat16 initial logits 6.8e-3, trained 1.7e-2; float16 7.2e-4 and 1.3e-3. The bounds leave
        about 3x headroom above those."""
        if dtype == "float64":
            return cls(1e-10, 1e-8)
        return {"mixed-bfloat16": cls(2e-2, 5e-2), "mixed-float16": cls(2.5e-3, 5e-3)}.get(precision, cls())


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to the largest |a| (element-wise ratios explode near zero)."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))


def compare(name_a: str, a: dict, name_b: str, b: dict, tol: Tolerance) -> dict:
    la, lb = np.array(a["losses"]), np.array(b["losses"])
    before_a, before_b = np.array(a["logits_before"]), np.array(b["logits_before"])
    row = {
        "pair": f"{name_a} vs {name_b}",
        "params equal": a["params"] == b["params"] == a["declared_params"],
        "logits max abs": float(np.max(np.abs(before_a - before_b))),
        "logits rel": rel_diff(before_a, before_b),
    }
    untrained = a.get("untrained") or b.get("untrained")
    if untrained:  # an inference-only backend (or --steps 0): the eval-mode logits are all there is
        row.update({"trained logits rel": None, "loss max rel": None, "final loss rel": None,
                    "checked": f"initial logits only ({untrained})"})
        row["ok"] = bool(row["params equal"] and row["logits rel"] <= tol.logits)
        return row
    row.update({
        "trained logits rel": rel_diff(np.array(a["logits_after"]), np.array(b["logits_after"])),
        "loss max rel": float(np.max(np.abs(la - lb) / np.maximum(np.abs(la), 1e-30))),
        "final loss rel": float(abs(la[-1] - lb[-1]) / max(abs(la[-1]), 1e-30)),
        "checked": "logits and training",
    })
    row["ok"] = bool(
        row["params equal"] and row["logits rel"] <= tol.logits
        and max(row["trained logits rel"], row["loss max rel"]) <= tol.trained
    )
    return row


def verify(config: RunConfig, backends: list[str], tol: Tolerance, announce=None,
           dtype: str = "float32", train: bool = True) -> tuple[list[dict], dict[str, dict]]:
    """(one comparison row per pair of backends, errors by backend for those that failed).

    With replicas, every backend also runs alone on the same global batch, and its data-parallel
    run (in ``config.processes`` processes, where given) is compared with that single-device,
    single-process run as well as with the other backends' replicated runs."""
    runs = {name: config for name in backends}
    pairs = []
    if config.replicas > 1:
        alone = dataclasses.replace(config, replicas=1, processes=None, batch_size=config.global_batch,
                                    global_batch_size=None)
        spread = f" x{config.replicas}" + (f" in {config.processes} processes" if (config.processes or 1) > 1 else "")
        runs = {}
        for name in backends:
            runs[name], runs[name + spread] = alone, config
            pairs.append((name, name + spread))
    outputs, errors = {}, {}
    for label, run_config in runs.items():
        if announce is not None:
            announce(label)
        backend = label.split(" x")[0]
        outcome = isolation.run_in_worker("verify", {**run_config.to_dict(), "backend": backend, "dtype": dtype, "train": train},
                                          config.timeout)
        if outcome.output is not None:
            outputs[label] = outcome.output
        else:
            errors[label] = outcome.error
    compared = [label for label in outputs if config.replicas == 1 or " x" in label]
    pairs = [(a, b) for a, b in pairs if a in outputs and b in outputs] + list(itertools.combinations(compared, 2))
    return [compare(a, outputs[a], b, outputs[b], tol) for a, b in pairs], errors
