"""The training loop, written once for every backend. Runs inside the isolated worker process."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dlbench import environment, registry
from dlbench.measure import metrics
from dlbench.config import RunConfig
from dlbench.data.augment import Augment
from dlbench.data.batching import eval_batches, steps_per_epoch, train_batches
from dlbench.data.dataset import Dataset, DatasetRequest
from dlbench.data.prefetch import prefetch
from dlbench.data.transforms import Adapter
from dlbench.errors import ConfigError
from dlbench.graph import Graph, init_weights
from dlbench.optim import OptimizerSpec
from dlbench.result import Result

Progress = Callable[..., None]  # progress(event, **fields)


def _noop(event: str, **fields: Any) -> None:
    pass


@dataclass
class Prepared:
    """Everything a run needs, built in the worker: data, declaration, backend, model with weights."""

    dataset: Dataset
    graph: Graph | None  # None for a plugin's hand-written native model
    backend: Any
    model: Any
    adapt: Adapter


def prepare(config: RunConfig, progress: Progress = _noop, exact: bool = False, dtype: str = "float32") -> Prepared:
    """Load the data and build the model with canonical weights; ``exact`` turns dropout off, and
    ``dtype`` float64 (for ``verify``) builds it in double precision."""
    model_info = registry.get_model(config.model)
    dataset_info = registry.get_dataset(config.dataset)
    backend_cls = registry.get_backend(config.backend).load()

    progress("phase", name="loading data")
    request = DatasetRequest(
        model_input_shape=model_info.input_shape,
        model_num_classes=model_info.num_classes,
        data_dir=Path(config.data_dir) if config.data_dir else None,
        download=config.download,
        seed=config.seed,
    )
    dataset = dataset_info.load(request)
    input_shape = model_info.input_shape or dataset.input_shape
    adapt = Adapter(dataset.input_shape, input_shape, dataset.scale, dataset.mean, dataset.std)

    progress("phase", name="building model")
    backend_cls.check_dtype(dtype)  # before building: a float32-only backend need not take the argument
    extra = {"dtype": dtype} if dtype != "float32" else {}
    backend = backend_cls(device=config.device, options=config.backend_options, **extra)
    if backend.name in model_info.native:
        module, _, attr = model_info.native[backend.name].partition(":")
        factory = getattr(importlib.import_module(module), attr)
        return Prepared(dataset, None, backend, backend.build_native(factory, input_shape, dataset.num_classes, config.seed), adapt)
    if model_info.build is None:
        raise ConfigError(f"model {config.model!r} has no declaration and no native {backend.name} version; "
                          f"it runs on: {', '.join(model_info.native)}")
    graph = model_info.build(input_shape, dataset.num_classes)
    graph = graph.without_dropout() if exact else graph
    return Prepared(dataset, graph, backend, backend.build(graph, init_weights(graph, config.seed)), adapt)


def run(config: RunConfig, progress: Progress = _noop) -> Result:
    wall_start = time.perf_counter()
    p = prepare(config, progress)
    dataset, graph, backend, model, adapt = p.dataset, p.graph, p.backend, p.model, p.adapt

    per_epoch = steps_per_epoch(len(dataset.train), config.batch_size)
    if per_epoch == 0:
        raise ConfigError(f"batch size {config.batch_size} is larger than the {len(dataset.train)} training examples")
    total = config.warmup + config.steps if config.steps else config.epochs * per_epoch
    if total <= config.warmup:
        raise ConfigError(f"{total} training steps leave none to time after {config.warmup} warm-up steps; "
                          f"raise --epochs or --steps, or lower --warmup")

    optimizer = OptimizerSpec.create(config.optimizer, config.lr)
    step = backend.train_step(model, optimizer, config.seed)
    timer = metrics.StepTimer(config.warmup)
    losses: list[float] = []
    batches = train_batches(dataset.train, config.batch_size, config.seed, adapt, Augment.parse(config.augment))
    if config.prefetch_depth:
        batches = prefetch(batches, config.prefetch_depth)
    progress("phase", name="training", total=total)
    for i in range(total):
        epoch, x, y = next(batches)
        xd, yd = backend.to_device(x, y)  # data on the device before the clock starts
        with timer.step():
            loss = step(xd, yd)
            backend.sync(loss)
        losses.append(float(backend.to_numpy(loss)))
        if not np.isfinite(losses[-1]):
            raise FloatingPointError(f"training diverged: loss is {losses[-1]} at step {i + 1}; try a lower --lr")
        progress("step", done=i + 1, total=total, loss=losses[-1], epoch=epoch)
    train_time = sum(timer.warmup_times) + sum(timer.times)

    accuracy = {"top1": None, "top5": None, "reason": None}
    if not dataset.real:
        accuracy["reason"] = "synthetic data: accuracy is not applicable"
    elif dataset.test is None:
        accuracy["reason"] = "dataset has no test split"
    else:
        progress("phase", name="evaluating")
        accuracy.update(evaluate(backend, model, dataset, config.batch_size, adapt))

    trainable, non_trainable = backend.count_params(model)
    macs = graph.macs() if graph is not None else None
    analytic = metrics.analytic_train_flops(macs, config.batch_size) if macs is not None else None
    progress("phase", name="counting FLOPs")
    xd, yd = backend.to_device(*next(batches)[1:])
    try:
        framework_flops, flops_method = backend.train_step_flops(model, optimizer, xd, yd)
    except Exception as e:  # a probe failing must not lose the run's measurements
        framework_flops, flops_method = None, f"failed: {type(e).__name__}: {e}"

    stats = metrics.step_time_stats(timer.times)
    median = stats["median"]
    return Result(
        config=config.to_dict(),
        backend={"name": backend.name, "device": config.device,
                 "settings": {**backend.fixed_settings, **backend.settings}},
        model={
            "name": config.model,
            "input_shape": list(adapt.target),
            "num_classes": dataset.num_classes,
            "params_trainable": trainable,
            "params_non_trainable": non_trainable,
            "params_declared": list(graph.count_params()) if graph is not None else None,
            "macs_per_sample": macs,
        },
        dataset={
            "name": dataset.name, "real": dataset.real, "source": dataset.source,
            "train_size": len(dataset.train), "test_size": len(dataset.test) if dataset.test is not None else 0,
            "native_shape": list(dataset.input_shape), "transforms": adapt.steps, "augment": config.augment,
        },
        timing={
            "steps_total": total, "steps_timed": len(timer.times), "warmup_steps": config.warmup,
            "prefetch_batches": config.prefetch_depth,
            "epochs_run": round(total / per_epoch, 3),
            "step_time_s": stats,
            "step_times_s": timer.times,
            "throughput_samples_per_s": config.batch_size / median,
            "time_to_first_step_s": timer.first,
            "train_time_s": train_time,
            "wall_time_s": time.perf_counter() - wall_start,
        },
        flops={
            "per_train_step_analytic": analytic,
            "analytic_method": "6 x MACs x batch (forward 2 FLOPs/MAC, backward 2x forward); conv/dense only",
            "per_train_step_framework": framework_flops,
            "framework_method": flops_method,
            "achieved_flops_per_s": analytic / median if analytic else (framework_flops / median if framework_flops else None),
        },
        memory={"host_peak_rss_bytes": metrics.host_peak_rss_bytes(), "device_peak_bytes": backend.peak_device_memory()},
        accuracy=accuracy,
        loss={"curve": losses, "final": losses[-1], "first": losses[0]},
        environment={**environment.machine(), **backend.environment()},
    )


def run_job(payload: dict, progress: Progress) -> dict:
    """The worker's ``run`` job: a config dict in, a result record dict out."""
    return run(RunConfig.from_dict(payload), progress).to_dict()


def evaluate(backend, model, dataset: Dataset, batch_size: int, adapt) -> dict:
    step = backend.eval_step(model)
    correct = {1: 0, 5: 0}
    for x, y, valid in eval_batches(dataset.test, batch_size, adapt):
        logits = backend.to_numpy(step(backend.to_device(x)[0]))[:valid]
        for k, n in metrics.topk_correct(logits, y, (1, 5)).items():
            correct[k] += n
    n = len(dataset.test)
    return {"top1": correct[1] / n, "top5": correct[5] / n, "evaluated": n}
