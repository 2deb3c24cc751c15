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


def verify_job(payload: dict, progress) -> dict:
    """Worker side, one backend: logits before and after training, and the loss curve."""
    from dlbench import registry
    from dlbench.measure.prepare import prepare
    from dlbench.data.batching import eval_batches, train_batches
    from dlbench.optim import OptimizerSpec

    dtype = payload.pop("dtype", "float32")
    train = payload.pop("train", True)  # False: --steps 0, the initial logits only
    config = RunConfig.from_dict(payload)
    declared = registry.get_backend(config.backend).load().options  # an option applies where declared
    config = dataclasses.replace(config, backend_options={k: v for k, v in config.backend_options.items() if k in declared})
    p = prepare(config, progress, exact=True, dtype=dtype)
    dataset, graph, backend, model, adapt = p.dataset, p.graph, p.backend, p.model, p.adapt
    if graph is None:
        raise ConfigError(f"model {config.model!r} is hand-written for one backend; verify needs a declared model")
    probe, _, _ = next(eval_batches(dataset.train, config.global_batch, adapt))
    evaluate = backend.eval_step(model)
    before = backend.to_numpy(evaluate(backend.to_device(probe)[0]))
    untrained = untrained_reason(backend, train)
    if untrained:
        return {"logits_before": before.tolist(), "logits_after": None, "losses": [], "untrained": untrained,
                "params": list(backend.count_params(model)), "declared_params": list(graph.count_params()),
                "environment": backend.environment()}
    step = backend.train_step(model, OptimizerSpec.create(config.optimizer, config.lr), config.seed)
    losses = []
    batches = train_batches(dataset.train, config.global_batch, config.seed, adapt)
    for _, (_, x, y) in zip(range(config.steps), batches):
        losses.append(float(backend.to_numpy(step(*backend.to_device(x, y)))))
        progress("step", done=len(losses), total=config.steps, loss=losses[-1], epoch=0)
    after = backend.to_numpy(evaluate(backend.to_device(probe)[0]))
    return {
        "logits_before": before.tolist(), "logits_after": after.tolist(), "losses": losses,
        "params": list(backend.count_params(model)), "declared_params": list(graph.count_params()),
        "environment": backend.environment(),
    }


def untrained_reason(backend, train: bool) -> str | None:
    """Why this backend's run compares the initial logits only (None: it trains too)."""
    if "train" not in getattr(backend, "tasks", ("train", "inference")):  # declared by inference-only backends
        return f"{backend.name} is inference-only"
    return None if train else "--steps 0"


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
    run is compared with that single-device run as well as with the other backends' replicated runs."""
    runs = {name: config for name in backends}
    pairs = []
    if config.replicas > 1:
        alone = dataclasses.replace(config, replicas=1, batch_size=config.global_batch, global_batch_size=None)
        runs = {}
        for name in backends:
            runs[name], runs[f"{name} x{config.replicas}"] = alone, config
            pairs.append((name, f"{name} x{config.replicas}"))
    outputs, errors = {}, {}
    for label, run_config in runs.items():
        if announce is not None:
            announce(label)
        backend = label.split(" x")[0]
        outcome = run_job("verify", {**run_config.to_dict(), "backend": backend, "dtype": dtype, "train": train}, config.timeout)
        if outcome.output is not None:
            outputs[label] = outcome.output
        else:
            errors[label] = outcome.error
    compared = [label for label in outputs if config.replicas == 1 or " x" in label]
    pairs = [(a, b) for a, b in pairs if a in outputs and b in outputs] + list(itertools.combinations(compared, 2))
    return [compare(a, outputs[a], b, outputs[b], tol) for a, b in pairs], errors
