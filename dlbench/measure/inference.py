"""The inference job (``--task inference``): the model with canonical weights served request by
request through the backend's ``eval_step`` (inference mode), or, with ``--serve export``, through
the model exported the way the framework deploys it (:mod:`dlbench.measure.deployment`). Runs inside
the isolated worker.

The performance settings are tuned first, as for training (:mod:`dlbench.tuning`), by timing what
serves the requests at the run's batch size: candidates built fresh from the canonical weights,
timed interleaved, the default kept unless one is faster beyond the noise; tuning is skipped when
it would take longer than the run (``--min-requests``, ``--min-duration``) unless ``--tune``.

Warm-up calls come first (the first one includes compilation: XLA, ``tf.function`` tracing, an
ONNX Runtime session); then requests until there are at least ``min_requests`` of them *and*
``min_duration`` seconds have passed. Two latencies are taken, alternating request by request so
a shared machine's drift falls on both:

- **compute only**: the input is already on the device; the call and a device sync are timed;
- **end to end**: from a numpy array in the model's input shape: ``to_device`` + call + ``to_numpy``.

``timing.step_times_s`` holds the compute-only latencies, so ``compare`` and the speed statistics
treat an inference record like a training one.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dlbench.config import RunConfig
from dlbench.data.batching import eval_batches
from dlbench.errors import ConfigError
from dlbench.measure import deployment, metrics, sections
from dlbench.measure.distribution import describe
from dlbench.measure.memory import MemoryTracker
from dlbench.measure.prepare import Progress, prepare
from dlbench.result import Result
from dlbench.tuning import tune

#: distinct input batches served in turn (the same input every time could flatter a cache)
DISTINCT_INPUTS = 4
#: at most this often a progress event, so the display costs the timed loop nothing
PROGRESS_EVERY_S = 0.25
COMPUTE_ONLY = "input already on the device; the call and a device sync are timed"
END_TO_END = "a numpy array in the model's input shape: to_device + call + to_numpy"


def latency_stats(times: list[float]) -> dict:
    """p50, p90, p99, max and mean of per-request latencies, in seconds."""
    d = describe(times)
    return {"p50": d.median, "p90": d.p90, "p99": d.p99, "max": d.max, "mean": d.mean}


def throughput(batch: int, times: list[float]) -> float:
    """Samples per second served back to back: every sample over the time spent serving them."""
    return batch * len(times) / sum(times)


def request_inputs(dataset, batch: int, adapt) -> list[np.ndarray]:
    """Up to DISTINCT_INPUTS batches of the test split (else the training split), adapted to the
    model's input shape; a split smaller than the batch is zero-padded."""
    split = dataset.test if dataset.test is not None and len(dataset.test) else dataset.train
    out = []
    for x, _, _ in eval_batches(split, batch, adapt):
        out.append(np.ascontiguousarray(x))
        if len(out) == DISTINCT_INPUTS:
            break
    return out


class Server:
    """What serves requests (the eval step, or an exported model) as a server of timed requests."""

    def __init__(self, backend: Any, call: Callable[[Any], Any]):
        self.backend, self.call = backend, call

    def compute_only(self, xd: Any) -> float:
        start = time.perf_counter()
        self.backend.sync(self.call(xd))
        return time.perf_counter() - start

    def end_to_end(self, x: np.ndarray) -> float:
        start = time.perf_counter()
        self.backend.to_numpy(self.call(self.backend.to_device(x)[0]))  # reading the output waits for it
        return time.perf_counter() - start


def serve(server: Server, inputs: list[np.ndarray], config: RunConfig, warmup: int,
          progress: Progress, on_first: Callable[[], None]) -> dict:
    """Warm-up, then the timed requests; the raw latencies and timings."""
    on_device = [server.backend.to_device(x)[0] for x in inputs]
    progress("phase", name="warming up", total=warmup)
    warm = []
    for i in range(warmup):
        warm.append(server.compute_only(on_device[i % len(on_device)]))
        if i == 0:
            on_first()
        progress("step", done=i + 1, total=warmup, loss=None, epoch=0)
    server.end_to_end(inputs[0])  # its own first call: the host-to-device path warmed too

    compute, e2e = [], []
    total = config.min_requests
    progress("phase", name="inference", total=total)
    start = last_report = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - start
        if len(compute) >= config.min_requests and elapsed >= config.min_duration:
            break
        i = len(compute)
        compute.append(server.compute_only(on_device[i % len(on_device)]))
        e2e.append(server.end_to_end(inputs[i % len(inputs)]))
        now = time.perf_counter()
        if now - last_report >= PROGRESS_EVERY_S:
            per_request = (now - start) / len(compute)
            total = max(config.min_requests, len(compute) + int(max(config.min_duration - (now - start), 0) / per_request))
            progress("step", done=len(compute), total=total, loss=None, epoch=0)
            last_report = now
    duration = time.perf_counter() - start
    progress("step", done=len(compute), total=len(compute), loss=None, epoch=0)
    return {"warmup": warm, "compute": compute, "end_to_end": e2e, "duration": duration}


def inference_section(batch: int, served: dict, path: str, deployed: dict) -> dict:
    """The record's ``inference`` section."""
    compute, e2e = served["compute"], served["end_to_end"]
    return {
        "path": path,
        "deployment": deployed,
        "batch_size": batch,
        "requests": len(compute),
        "duration_s": served["duration"],
        "latency_s": latency_stats(compute),
        "throughput_samples_per_s": throughput(batch, compute),
        "first_call_s": served["warmup"][0],
        "warmup_calls": len(served["warmup"]),
        "warmup_times_s": served["warmup"],
        "compute_only": COMPUTE_ONLY,
        "distinct_inputs": DISTINCT_INPUTS,
        "end_to_end": {
            "what": END_TO_END,
            "latency_s": latency_stats(e2e),
            "throughput_samples_per_s": throughput(batch, e2e),
            "latencies_s": e2e,
        },
    }


def run(config: RunConfig, progress: Progress) -> Result:
    """One inference benchmark: the ``run`` job when ``config.task == "inference"``."""
    if config.replicas > 1:
        raise ConfigError(f"inference serves from one replica; use --replicas 1 (got {config.replicas})")
    wall_start = time.perf_counter()
    p = prepare(config, progress)
    dataset, adapt, batch = p.dataset, p.adapt, config.batch_size
    inputs = request_inputs(dataset, batch, adapt)
    warmup = max(config.warmup, 1)  # the first call compiles: it is never a timed request
    with tempfile.TemporaryDirectory(prefix="dlbench-serve-") as folder:
        how = deployment.served(config.serve, config.min_duration, Path(folder), p.backend)
        rebuild = lambda options: prepare(replace(config, backend_options=options), data=(dataset, adapt))  # noqa: E731
        calls = warmup + 2 * config.min_requests  # a request is two calls: compute only, end to end
        p, tuning = tune(config, p, rebuild, lambda: (inputs[0], None), progress, calls, how)
        backend = p.backend
        call, deployed = deployment.deploy(p, how, backend.to_device(inputs[0])[0], progress)
        tracker = MemoryTracker().start()  # baseline: framework loaded, model built (and exported)
        served = serve(Server(backend, call), inputs, config, warmup, progress, tracker.first_step_done)
        tracker.stop()

    section = inference_section(batch, served, config.serve, deployed)
    common = sections.shared(config, p, tracker, augment="none")
    macs = common["model"]["macs_per_sample"]
    analytic = 2 * macs * batch if macs is not None else None
    steps = sections.step_times(served["compute"], batch, sections.tokens_per_example(p))
    return Result(
        config=config.to_dict(),
        **common,
        timing={
            "mode": "step", "window": None, "window_times_s": None,
            "steps_total": warmup + section["requests"], "steps_timed": section["requests"], "warmup_steps": warmup,
            "prefetch_batches": 0, "epochs_run": None,
            **steps,
            "time_to_first_step_s": section["first_call_s"],
            "train_time_s": None,
            "wall_time_s": time.perf_counter() - wall_start,
        },
        flops={
            "per_train_step_analytic": None, "per_train_step_framework": None,
            "per_inference_analytic": analytic,
            "analytic_method": "2 x MACs x batch per request (forward only); conv/dense only",
            "framework_method": "not counted for inference",
            "framework_note": "not counted for inference",
            **metrics.flops_utilisation(analytic, None, steps["step_time_s"]["median"], backend, config.device),
        },
        accuracy={"top1": None, "top5": None, "reason": "inference benchmark: accuracy is not measured"},
        loss={"curve": [], "first": None, "final": None},
        tuning=tuning,
        inference=section,
    )
