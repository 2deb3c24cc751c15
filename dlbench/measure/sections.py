"""The record's sections that training and inference share, built one way for both (their fields:
:mod:`dlbench.record.schema`). Runs inside the worker."""

from __future__ import annotations

from typing import Any

from dlbench import environment
from dlbench.config import RunConfig
from dlbench.measure import metrics
from dlbench.measure.distribution import describe
from dlbench.measure.memory import MemoryTracker
from dlbench.measure.prepare import Prepared


def shared(config: RunConfig, p: Prepared, tracker: MemoryTracker, augment: str) -> dict[str, dict]:
    """``backend``, ``model``, ``dataset``, ``environment``, ``memory`` and ``distributed``, after the
    measurement (``tracker`` stopped); ``augment`` is the augmentation the data went through."""
    return {
        "backend": {"name": p.backend.name, "device": config.device,
                    "settings": {**p.backend.fixed_settings, **p.backend.settings},
                    "compilation": p.backend.compilation()},
        "model": model_section(config, p),
        "dataset": dataset_section(p, augment),
        "environment": {**environment.machine(), **p.backend.environment(), **metrics.noise_recorded()},
        "memory": tracker.record(metrics.host_peak_rss_bytes(), p.backend.peak_device_memory(), config.device),
        "distributed": distributed_section(config, p.parallel),
    }


def model_section(config: RunConfig, p: Prepared) -> dict[str, Any]:
    trainable, non_trainable = p.backend.count_params(p.model)
    return {
        "name": config.model, "input_shape": list(p.adapt.target), "num_classes": p.dataset.num_classes,
        "params_trainable": trainable, "params_non_trainable": non_trainable,
        "params_declared": list(p.graph.count_params()) if p.graph is not None else None,
        "macs_per_sample": p.graph.macs() if p.graph is not None else None,
    }


def dataset_section(p: Prepared, augment: str) -> dict[str, Any]:
    d = p.dataset
    return {
        "name": d.name, "real": d.real, "source": d.source,
        "train_size": len(d.train), "test_size": len(d.test) if d.test is not None else 0,
        "native_shape": list(d.input_shape), "transforms": p.adapt.steps, "augment": augment,
    }


def distributed_section(config: RunConfig, parallel: dict | None) -> dict[str, Any]:
    """How the run was spread over replicas, and the batch policy (weak or strong scaling)."""
    return {
        "replicas": config.replicas,
        "batch_policy": "strong: --global-batch-size split over replicas" if config.global_batch_size
        else "weak: --batch-size per replica",
        "per_replica_batch": config.per_replica_batch, "global_batch": config.global_batch,
        **(parallel or {"engine": None, "processes": 1}),
    }


def step_times(times: list[float], batch: int, tokens: int | None = None) -> dict[str, Any]:
    """The timing section's statistics of the timed steps (empty when none was timed), every step's
    time, and the throughput of ``batch`` examples per median step (and of their tokens, ``tokens``
    each, for a language model)."""
    median = describe(times).median if times else None
    out: dict[str, Any] = {"step_time_s": {}, "step_times_s": times,
                           "throughput_samples_per_s": batch / median if median else None}
    if tokens:
        out["throughput_tokens_per_s"] = batch * tokens / median if median else None
    if times:
        d = describe(times)
        out["step_time_s"] = {"median": d.median, "p10": d.p10, "p90": d.p90, "mean": d.mean, "std": d.std,
                              "min": d.min, "max": d.max}
    return out


def tokens_per_example(p: Any) -> int | None:
    """A language model's tokens per sequence, None for other inputs."""
    return p.adapt.target[0] if p.dataset.inputs == "tokens" else None

