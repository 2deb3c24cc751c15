"""The training loop, written once for every backend. Runs inside the isolated worker process."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from dlbench.config import RunConfig
from dlbench.data.augment import Augment
from dlbench.data.batching import steps_per_epoch, train_batches
from dlbench.data.prefetch import prefetch
from dlbench.errors import ConfigError
from dlbench.measure import clocks, metrics, sections, target
from dlbench.measure.memory import MemoryTracker
from dlbench.measure.prepare import Progress, prepare, quiet
from dlbench.optim import OptimizerSpec
from dlbench.result import Result
from dlbench.tuning import tune

def run(config: RunConfig, progress: Progress = quiet) -> Result:
    """Train as ``config`` says and measure it (``--task train``)."""
    wall_start = time.perf_counter()
    p = prepare(config, progress)
    dataset, backend, model, adapt = p.dataset, p.backend, p.model, p.adapt
    target.check(config, dataset)  # before tuning: a bad time-to-accuracy request fails fast

    batch = config.global_batch  # what one step consumes, over all replicas
    per_epoch = steps_per_epoch(len(dataset.train), batch)
    if per_epoch == 0:
        raise ConfigError(f"batch size {batch} is larger than the {len(dataset.train)} training examples")
    total = config.warmup + config.steps if config.steps else config.epochs * per_epoch
    if total <= config.warmup:
        raise ConfigError(f"{total} training steps leave none to time after {config.warmup} warm-up steps; "
                          f"raise --epochs or --steps, or lower --warmup")
    # performance settings: timed on candidates of their own, kept out of step time and time to first step
    run_steps = target.max_epochs(config) * per_epoch if target.requested(config) else total
    p, tuning = tune(config, p, lambda options: prepare(replace(config, backend_options=options), data=(dataset, adapt)),
                     lambda: next(train_batches(dataset.train, batch, config.seed, adapt))[1:], progress, run_steps)
    backend, model = p.backend, p.model

    optimizer = OptimizerSpec.create(config.optimizer, config.lr)
    tracker = MemoryTracker().start()  # baseline: framework loaded, model built; training memory from here
    step = backend.train_step(model, optimizer, config.seed)
    losses: list[float] = []
    tta = target.begin(config, per_epoch, backend, model, dataset, batch, adapt, progress)  # None: no target
    total = tta.total_steps if tta else total
    timer = clocks.make_clock(config.timing, config.warmup, config.window, total, tta.interval if tta else None)
    batches = train_batches(dataset.train, batch, config.seed, adapt, Augment.parse(config.augment))
    if config.prefetch_depth:
        batches = prefetch(batches, config.prefetch_depth)
    progress("phase", name="training", total=total, warmup=config.warmup)
    feed = timer.feed(batches, backend.to_device)  # data on the device before the clock starts
    for i in range(total):
        epoch, xd, yd = next(feed)
        with timer.step():
            loss = step(xd, yd)
            timer.sync(backend.sync, loss)  # after every step, or once per --timing window
        if i == 0:
            tracker.first_step_done()  # compilation, lazy allocations, optimiser state
        for done, value in timer.settle(i, loss, backend.to_numpy):  # losses of synced steps only
            losses.append(value)
            if not np.isfinite(value):
                raise FloatingPointError(f"training diverged: loss is {value} at step {done}; try a lower --lr")
            progress("step", done=done, total=total, loss=value, epoch=epoch)
        if tta and tta.after_step(i + 1, losses[-1] if losses else None):
            total = i + 1  # stopped at the evaluation that reached the target
            break
    tracker.stop()
    train_time = timer.total_time

    accuracy = {"top1": None, "top5": None, "reason": None}
    if not dataset.real:
        accuracy["reason"] = "synthetic data: accuracy is not applicable"
    elif dataset.test is None:
        accuracy["reason"] = "dataset has no test split"
    else:
        if dataset.inputs == "tokens":
            accuracy["reason"] = "a language model: its validation loss and perplexity, not accuracy"
        if tta:  # the target run's last evaluation is the final model's
            accuracy.update({k: v for k, v in tta.curve[-1].items() if k in metrics.SCORES}, evaluated=len(dataset.test))
        else:
            progress("phase", name="evaluating")
            accuracy.update(metrics.evaluate(backend, backend.eval_step(model), dataset, batch, adapt))

    progress("phase", name="counting FLOPs")
    xd, yd = backend.to_device(*next(batches)[1:])
    try:
        framework_flops, flops_method = backend.train_step_flops(model, optimizer, xd, yd)
    except Exception as e:  # a probe failing must not lose the run's measurements
        framework_flops, flops_method = None, f"failed: {type(e).__name__}: {e}"

    common = sections.shared(config, p, tracker, config.augment)
    macs = common["model"]["macs_per_sample"]
    analytic = metrics.analytic_train_flops(macs, batch) if macs is not None else None

    steps = sections.step_times(timer.times, batch, sections.tokens_per_example(p))
    median = steps["step_time_s"].get("median")  # None when a target was reached before any step was timed
    return Result(
        config=config.to_dict(),
        **common,
        timing={
            "steps_total": total, "steps_timed": timer.steps_timed, "warmup_steps": config.warmup,
            "prefetch_batches": config.prefetch_depth,
            "epochs_run": round(total / per_epoch, 3),
            **steps,
            **timer.record(),
            **({} if median else {"note": f"the target was reached at step {total}, within the {config.warmup} "
                                          "warm-up steps: no step was timed"}),
            "time_to_first_step_s": timer.first,
            "train_time_s": train_time,
            "wall_time_s": time.perf_counter() - wall_start,
        },
        flops={
            "per_train_step_analytic": analytic,
            "analytic_method": "6 x MACs x batch (forward 2 FLOPs/MAC, backward 2x forward); conv/dense only",
            "per_train_step_framework": framework_flops,
            "framework_method": flops_method,
            "framework_note": None if framework_flops is not None else flops_method,
            **metrics.flops_utilisation(analytic, framework_flops, median, backend, config.device),
        },
        accuracy=accuracy,
        loss={"curve": losses, "final": losses[-1], "first": losses[0]},
        tuning=tuning,
        target=tta.record(tuning.get("time_s")) if tta else {},
    )
