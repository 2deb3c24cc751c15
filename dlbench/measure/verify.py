"""``dlbench verify``: proof that backends build the same model and train it the same way.

Every backend, each in its own process, loads the same canonical weights, computes eval-mode
logits on the same batch, trains for N steps on the same batches (dropout off) and computes the
logits again. The parent compares every pair of backends.

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
from dlbench.errors import ConfigError
from dlbench.execution.isolation import run_job


@dataclass(frozen=True)
class Tolerance:
    """Relative bounds: initial logits (round-off only) and after training (grows per step)."""

    logits: float = 1e-5
    trained: float = 1e-3

    @classmethod
    def default(cls, dtype: str) -> Tolerance:
        return cls(1e-10, 1e-8) if dtype == "float64" else cls()


def verify_job(payload: dict, progress) -> dict:
    """Worker side, one backend: logits before and after training, and the loss curve."""
    from dlbench import registry
    from dlbench.measure import loop
    from dlbench.data.batching import eval_batches, train_batches
    from dlbench.optim import OptimizerSpec

    dtype = payload.pop("dtype", "float32")
    config = RunConfig.from_dict(payload)
    declared = registry.get_backend(config.backend).load().options  # an option applies where declared
    config = dataclasses.replace(config, backend_options={k: v for k, v in config.backend_options.items() if k in declared})
    p = loop.prepare(config, progress, exact=True, dtype=dtype)
    dataset, graph, backend, model, adapt = p.dataset, p.graph, p.backend, p.model, p.adapt
    if graph is None:
        raise ConfigError(f"model {config.model!r} is hand-written for one backend; verify needs a declared model")
    probe, _, _ = next(eval_batches(dataset.train, config.batch_size, adapt))
    evaluate = backend.eval_step(model)
    before = backend.to_numpy(evaluate(backend.to_device(probe)[0]))
    step = backend.train_step(model, OptimizerSpec.create(config.optimizer, config.lr), config.seed)
    losses = []
    batches = train_batches(dataset.train, config.batch_size, config.seed, adapt)
    for _, (_, x, y) in zip(range(config.steps), batches):
        losses.append(float(backend.to_numpy(step(*backend.to_device(x, y)))))
        progress("step", done=len(losses), total=config.steps, loss=losses[-1], epoch=0)
    after = backend.to_numpy(evaluate(backend.to_device(probe)[0]))
    return {
        "logits_before": before.tolist(), "logits_after": after.tolist(), "losses": losses,
        "params": list(backend.count_params(model)), "declared_params": list(graph.count_params()),
        "environment": backend.environment(),
    }


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
        "trained logits rel": rel_diff(np.array(a["logits_after"]), np.array(b["logits_after"])),
        "loss max rel": float(np.max(np.abs(la - lb) / np.maximum(np.abs(la), 1e-30))),
        "final loss rel": float(abs(la[-1] - lb[-1]) / max(abs(la[-1]), 1e-30)),
    }
    row["ok"] = bool(
        row["params equal"] and row["logits rel"] <= tol.logits
        and max(row["trained logits rel"], row["loss max rel"]) <= tol.trained
    )
    return row


def verify(config: RunConfig, backends: list[str], tol: Tolerance, announce=None,
           dtype: str = "float32") -> tuple[list[dict], dict[str, dict]]:
    """(one comparison row per pair of backends, errors by backend for those that failed)."""
    outputs, errors = {}, {}
    for name in backends:
        if announce is not None:
            announce(name)
        outcome = run_job("verify", {**config.to_dict(), "backend": name, "dtype": dtype}, config.timeout)
        if outcome.output is not None:
            outputs[name] = outcome.output
        else:
            errors[name] = outcome.error
    rows = [compare(a, outputs[a], b, outputs[b], tol) for a, b in itertools.combinations(list(outputs), 2)]
    return rows, errors
