"""Measurements: top-k accuracy, FLOP arithmetic, host memory."""

from __future__ import annotations

import math
import resource
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np


def topk_correct(logits: np.ndarray, labels: np.ndarray, ks=(1, 5)) -> dict[int, int]:
    """Number of rows whose label is among the k largest logits, for each k."""
    order = np.argsort(-logits, axis=1, kind="stable")
    hits = order == labels[:, None]
    return {k: int(hits[:, : min(k, logits.shape[1])].any(axis=1).sum()) for k in ks}


#: what an evaluation scores: a classifier's top-1 and top-5, a language model's loss, perplexity, bits
SCORES = ("top1", "top5", "val_loss", "perplexity", "bits_per_token")


def evaluate(backend, step, dataset, batch_size: int, adapt) -> dict:
    """The test split's scores under ``step`` (a backend's eval step, built once): top-1 and top-5
    of a classifier; of a language model its validation loss (mean cross-entropy per token, nats),
    perplexity and bits per token, computed here from the logits as for every backend."""
    from dlbench.data.batching import eval_batches

    split = dataset.test
    correct, nats, tokens = {1: 0, 5: 0}, 0.0, 0
    for x, y, valid in eval_batches(split, batch_size, adapt):
        logits = backend.to_numpy(step(backend.to_device(x)[0]))[:valid]
        if dataset.inputs == "tokens":
            nats += cross_entropy_sum(logits, y)
            tokens += y.size
            continue
        for k, n in topk_correct(logits, y, (1, 5)).items():
            correct[k] += n
    if dataset.inputs == "tokens":
        loss = nats / tokens
        return {"val_loss": loss, "perplexity": math.exp(loss), "bits_per_token": loss / math.log(2),
                "evaluated": len(split)}
    return {"top1": correct[1] / len(split), "top5": correct[5] / len(split), "evaluated": len(split)}


def cross_entropy_sum(logits: np.ndarray, labels: np.ndarray) -> float:
    """The summed cross-entropy (nats) of ``labels`` (..., ) under ``logits`` (..., V), in float64."""
    z = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float((log_norm - z[np.arange(len(z)), labels.reshape(-1)]).sum())


def analytic_train_flops(macs_per_sample: int, batch_size: int) -> int:
    """FLOPs of one training step: forward 2 FLOPs per MAC, backward twice the forward."""
    return 3 * 2 * macs_per_sample * batch_size


def host_peak_rss_bytes() -> int:
    """Peak resident memory of this process (the isolated worker) since it started."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@dataclass
class StepTimer:
    """Per-step wall times; the first ``warmup`` steps are kept apart, not in ``times``."""

    warmup: int
    first: float | None = None
    warmup_times: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @contextmanager
    def step(self):
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        if self.first is None:
            self.first = elapsed
        if len(self.warmup_times) < self.warmup:
            self.warmup_times.append(elapsed)
        else:
            self.times.append(elapsed)


def flops_utilisation(analytic: float | None, framework: float | None, median_s: float | None, backend,
                      device: str) -> dict:
    """Achieved FLOP/s (analytic count, else the framework's) and its share of the measured ceiling."""
    from dlbench.calibration import utilisation

    flops = analytic or framework
    achieved = flops / median_s if flops and median_s else None
    env = backend.environment()
    share, note = utilisation(achieved, backend.name, device, env.get("precision"), env.get("device_name"),
                              backend.accelerator())
    return {"achieved_flops_per_s": achieved, "utilisation": share, "utilisation_note": note}


def noise_recorded() -> dict:
    """``{"noise": {...}}``: the latest ``dlbench doctor`` A/A estimate, or ``{}``."""
    from dlbench.diagnostics.noise import recorded

    return recorded()
