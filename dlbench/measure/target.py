"""Time-to-accuracy, timed by one set of rules for every backend (MLPerf Training, DAWNBench).

The clock (MLPerf's) starts at the first touch of the data, the first training batch drawn from
the dataset decoded in memory, and stops at the end of the evaluation that reached the target:
evaluation time is counted. Work done before the first touch is reported in ``excluded_s`` and not
counted: tuning the backend's performance settings, and compiling the evaluation step on a batch
of zeros. The training step compiles on its first real batch (a step on dummy data would change
the weights and optimiser state), so that compilation is inside the clock, for every backend.

The test split is evaluated every ``round(eval_every x steps per epoch)`` steps and once more after
the last step of ``max_epochs`` if that is not an evaluation step; the run stops at the first
evaluation whose top-1 is at or above the target. A run that never reaches it is *not converged*:
a result (``reached: False``), not a failure.

The loop drives it::

    tta = begin(config, per_epoch, backend, model, ...)  # plan, compile the eval step, start the clock
    for i in range(tta.total_steps):
        ... one training step ...
        if tta.after_step(i + 1, loss):
            break
    section = tta.record(tuning_s)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dlbench.errors import ConfigError
from dlbench.measure import metrics

Clock = Callable[[], float]


#: what a target is measured on: a classifier's top-1 (at least the target), a language model's
#: validation loss or perplexity (at most the target)
METRICS = {"target_accuracy": ("top1", True), "target_loss": ("val_loss", False),
           "target_perplexity": ("perplexity", False)}


def requested(config: Any) -> tuple[str, float, bool] | None:
    """(the evaluated metric, the target, whether higher is better), or None for a run without one."""
    for option, (metric, higher) in METRICS.items():
        if getattr(config, option, None) is not None:
            return metric, getattr(config, option), higher
    return None


def check(config: Any, dataset: Any) -> None:
    """Raise ConfigError when ``config`` cannot be a time-to-target run on ``dataset``."""
    wanted = requested(config)
    if wanted is None:
        return
    tokens = getattr(dataset, "inputs", "image") == "tokens"
    if tokens != (wanted[0] != "top1"):
        raise ConfigError("--target-accuracy is for classifiers; a language model's target is --target-loss or "
                          "--target-perplexity" if tokens else
                          "--target-loss and --target-perplexity are for language models; a classifier's target is "
                          "--target-accuracy")
    if config.steps is not None:
        raise ConfigError("--steps and --target-accuracy exclude each other: a target run trains until the "
                          "target or --max-epochs; drop --steps")
    if not dataset.real:
        raise ConfigError(f"--target-accuracy needs real data, and {dataset.name!r} is generated: accuracy on it "
                          f"means nothing; choose a real dataset (e.g. digits, fashion-mnist)")
    if dataset.test is None:
        raise ConfigError(f"--target-accuracy needs a test split to evaluate on, and dataset {dataset.name!r} "
                          f"has none; choose a dataset with one (e.g. digits, fashion-mnist)")


def max_epochs(config: Any) -> int:
    """``--max-epochs``, defaulting to ``--epochs`` (10 unless given)."""
    return config.max_epochs if config.max_epochs is not None else config.epochs


def eval_interval(eval_every: float, per_epoch: int) -> int:
    """Steps between evaluations: ``eval_every`` epochs, at least one step."""
    return max(1, round(eval_every * per_epoch))


@dataclass
class TargetRun:
    """The state of one time-to-target run; ``evaluate()`` returns the scores of one evaluation,
    among them ``metric`` (``top1`` and ``top5`` of a classifier; ``val_loss`` and ``perplexity``
    of a language model)."""

    target: float
    eval_every: float
    max_epochs: int
    per_epoch: int
    evaluate: Callable[[], dict]
    clock: Clock = time.perf_counter
    progress: Callable[..., None] = lambda event, **fields: None
    curve: list[dict] = field(default_factory=list)
    excluded: dict[str, float] = field(default_factory=lambda: {"tuning": 0.0, "compile": 0.0})
    started: float | None = None
    eval_time: float = 0.0  # seconds spent evaluating since the clock started
    reached: dict | None = None  # the curve point that reached the target
    metric: str = "top1"
    higher_is_better: bool = True

    @classmethod
    def plan(cls, config: Any, per_epoch: int, evaluate: Callable[[], dict], **kwargs: Any) -> "TargetRun":
        metric, value, higher = requested(config)
        return cls(value, config.eval_every, max_epochs(config), per_epoch, evaluate, metric=metric,
                   higher_is_better=higher, **kwargs)

    def hits(self, score: float) -> bool:
        return score >= self.target if self.higher_is_better else score <= self.target

    @property
    def interval(self) -> int:
        return eval_interval(self.eval_every, self.per_epoch)

    @property
    def total_steps(self) -> int:
        return self.max_epochs * self.per_epoch

    def precompile(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` (compiling a step on data-free input) before the clock; its time is excluded."""
        if self.started is not None:
            raise RuntimeError("precompile must run before the first touch of data")
        begin = self.clock()
        fn()
        self.excluded["compile"] += self.clock() - begin

    def start(self) -> None:
        """The first touch of the data: the MLPerf clock starts."""
        self.started = self.clock()

    def after_step(self, step: int, loss: float | None) -> bool:
        """After training step ``step`` (1-based): evaluate when due; True once the target is reached."""
        if self.started is None:
            raise RuntimeError("start() the clock before training")
        if step % self.interval and step != self.total_steps:
            return False
        begin = self.clock()
        self.progress("phase", name="evaluating")
        scores = self.evaluate()
        end = self.clock()
        self.eval_time += end - begin
        point = {"step": step, "epoch": round(step / self.per_epoch, 4), "elapsed_s": end - self.started,
                 "train_s": end - self.started - self.eval_time,
                 **{k: v for k, v in scores.items() if k != "evaluated"}, "loss": loss}
        self.curve.append(point)
        if self.hits(scores[self.metric]):
            self.reached = point
            return True
        self.progress("phase", name="training", total=self.total_steps)
        self.progress("step", done=step, total=self.total_steps, loss=loss, epoch=(step - 1) // self.per_epoch)
        return False

    def record(self, tuning_s: float | None = None) -> dict:
        """The record's ``target`` section."""
        if tuning_s:
            self.excluded["tuning"] = float(tuning_s)
        hit = self.reached
        return {
            "target": self.target, "reached": hit is not None,
            "time_to_target_s": hit["elapsed_s"] if hit else None,
            "train_time_to_target_s": hit["train_s"] if hit else None,
            "epochs_to_target": hit["epoch"] if hit else None,
            "steps_to_target": hit["step"] if hit else None,
            "eval_every": self.eval_every, "eval_interval_steps": self.interval, "max_epochs": self.max_epochs,
            "evaluations": len(self.curve),
            "metric": self.metric,
            "best": (max if self.higher_is_better else min)((p[self.metric] for p in self.curve), default=None),
            "eval_time_s": self.eval_time,
            "curve": self.curve,
            "excluded_s": dict(self.excluded),
            "clock": "MLPerf: from the first touch of the data to the end of the evaluation that reached the "
                     "target, evaluation included; tuning and compilation before the data are excluded",
        }


def evaluator(backend: Any, model: Any, dataset: Any, batch_size: int, adapt: Any
              ) -> tuple[Callable[[], dict], Callable[[], None]]:
    """(evaluate, warm): the test split's scores (:func:`dlbench.measure.metrics.evaluate`) with one
    eval step built once (a new one per evaluation would recompile), and a call of that step on
    zeros that compiles it without data."""
    step = backend.eval_step(model)

    def evaluate() -> dict:
        return metrics.evaluate(backend, step, dataset, batch_size, adapt)

    def warm() -> None:
        zeros = np.zeros((batch_size, *adapt.target), adapt.dtype)
        backend.to_numpy(step(backend.to_device(zeros)[0]))

    return evaluate, warm


def begin(config: Any, per_epoch: int, backend: Any, model: Any, dataset: Any, batch_size: int, adapt: Any,
          progress: Callable[..., None]) -> TargetRun | None:
    """For a target run: plan it, compile the eval step without data, and start the clock (call it
    just before the first training batch is drawn). None when ``config`` has no target."""
    if requested(config) is None:
        return None
    check(config, dataset)
    evaluate, warm = evaluator(backend, model, dataset, batch_size, adapt)
    run = TargetRun.plan(config, per_epoch, evaluate, progress=progress)
    progress("phase", name="compiling the eval step")
    run.precompile(warm)
    run.start()
    return run


def describe(section: dict) -> str:
    """One line for the summary table."""
    metric = NAMES[section["metric"]]
    if section["reached"]:
        return (f"reached {metric} {section['target']:g} in {section['time_to_target_s']:.2f} s "
                f"({section['train_time_to_target_s']:.2f} s training), {section['epochs_to_target']:g} epochs, "
                f"{section['steps_to_target']} steps")
    short = "<" if section["metric"] == "top1" else ">"
    return (f"not converged: best {metric} {section['best']:.4f} {short} {section['target']:g} after "
            f"{section['max_epochs']} epochs ({section['evaluations']} evaluations)")


NAMES = {"top1": "top-1", "val_loss": "validation loss", "perplexity": "perplexity"}
