"""``dlbench verify``, in the worker: one backend loads the canonical weights, computes eval-mode
logits on a batch, trains for N steps on the same batches as every other backend (dropout off) and
computes the logits again. :mod:`dlbench.execution.verify` compares the backends' outputs."""

from __future__ import annotations

from dlbench.config import RunConfig
from dlbench.data.batching import eval_batches, train_batches
from dlbench.errors import ConfigError
from dlbench.measure.prepare import own_options, prepare
from dlbench.optim import OptimizerSpec


def outputs(payload: dict, progress) -> dict:
    """Worker side, one backend: logits before and after training, and the loss curve."""
    dtype = payload.pop("dtype", "float32")
    train = payload.pop("train", True)  # False: --steps 0, the initial logits only
    config = own_options(RunConfig.from_dict(payload))
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
    if "train" not in backend.tasks:
        return f"{backend.name} is inference-only"
    return None if train else "--steps 0"
