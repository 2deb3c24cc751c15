"""The settings of one run, validated on creation. Every command that starts runs (``run``,
``sweep``, ``verify``) builds one of these; the options they share are declared once, in
:mod:`dlbench.cli.options`, by the names of these fields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dlbench.errors import ConfigError
from dlbench.optim import DEFAULT_LR, OPTIMIZERS
from dlbench.precision import PRECISIONS

DEVICES = ("cpu", "gpu")
TASKS = ("train", "inference")
TIMINGS = ("step", "window")
#: inference: the framework's own eval step, or the model exported as the framework deploys it
SERVES = ("step", "export")


def _positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name.replace('_', ' ')} must be a positive integer, got {value!r}")


def _choice(name: str, value: Any, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise ConfigError(f"unknown {name.replace('_', ' ')} {value!r}; choose one of: {', '.join(accepted)}")


@dataclass(frozen=True)
class RunConfig:
    """One benchmark run. ``steps`` (timed steps after warm-up) overrides ``epochs`` when set."""

    backend: str = "torch"
    model: str = "lenet5"
    dataset: str = "digits"
    task: str = "train"
    batch_size: int = 64
    epochs: int = 10
    steps: int | None = None
    warmup: int = 3
    optimizer: str = "adam"
    lr: float | None = None
    seed: int = 0
    device: str = "cpu"
    precision: str = "float32"
    data_dir: str | None = None
    download: bool = False
    timeout: float | None = None
    augment: str = "none"
    prefetch: int | None = None
    #: tune the backend's performance settings (never its numerics) before the timed run: None when
    #: it pays for itself (:mod:`dlbench.tuning.budget`), True always, False never
    tune: bool | None = None
    #: ``step``: a sync after every step; ``window``: one sync per ``window`` steps
    timing: str = "step"
    window: int = 10
    #: time-to-accuracy: stop at the first evaluation reaching this top-1 (a classifier) or this
    #: validation loss or perplexity (a language model)
    target_accuracy: float | None = None
    target_loss: float | None = None
    target_perplexity: float | None = None
    eval_every: float = 1.0  # epochs between evaluations (fractions allowed)
    max_epochs: int | None = None
    #: data parallelism: replicas, and the global batch (strong scaling) instead of a per-replica one
    replicas: int = 1
    global_batch_size: int | None = None
    #: processes the replicas run in; None: one per replica (torch), one (JAX, TensorFlow), or as launched
    processes: int | None = None
    #: a language model's tokens per sequence; None: its context
    seq_len: int | None = None
    #: inference: at least this many requests and this many seconds of them
    min_requests: int = 10
    min_duration: float = 10.0
    #: inference: what serves the requests (:data:`SERVES`)
    serve: str = "step"
    backend_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("batch_size", "epochs", "window", "replicas", "min_requests"):
            _positive_int(name, getattr(self, name))
        for name in ("steps", "max_epochs", "global_batch_size", "seq_len", "processes"):
            _positive_int(name, getattr(self, name), allow_none=True)
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ConfigError(f"warmup must be a non-negative integer, got {self.warmup!r}")
        _choice("task", self.task, TASKS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("device", self.device, DEVICES)
        _choice("precision", self.precision, PRECISIONS)
        _choice("timing", self.timing, TIMINGS)
        _choice("serve", self.serve, SERVES)
        if self.serve != "step" and self.task != "inference":
            raise ConfigError(f"--serve {self.serve} serves an exported model: it needs --task inference")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"timeout must be positive seconds, got {self.timeout}")
        if self.prefetch is not None and (not isinstance(self.prefetch, int) or self.prefetch < 0):
            raise ConfigError(f"prefetch must be a non-negative number of batches, got {self.prefetch!r}")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ConfigError(f"target accuracy must be a top-1 fraction in (0, 1], got {self.target_accuracy}")
        if self.target_loss is not None and not self.target_loss > 0:
            raise ConfigError(f"target loss must be a positive validation loss (nats per token), got {self.target_loss}")
        if self.target_perplexity is not None and not self.target_perplexity > 1:
            raise ConfigError(f"target perplexity must be above 1, got {self.target_perplexity}")
        targets = [n for n in ("target_accuracy", "target_loss", "target_perplexity") if getattr(self, n) is not None]
        if len(targets) > 1:
            raise ConfigError(f"give one target, not {' and '.join('--' + n.replace('_', '-') for n in targets)}")
        if not self.eval_every > 0:
            raise ConfigError(f"eval every must be a positive number of epochs, got {self.eval_every}")
        if not self.min_duration >= 0:
            raise ConfigError(f"min duration must be non-negative seconds, got {self.min_duration}")
        if self.global_batch_size is not None and self.global_batch_size % self.replicas:
            raise ConfigError(f"global batch size {self.global_batch_size} does not divide into "
                              f"{self.replicas} replicas")
        if self.processes is not None and self.replicas % self.processes:
            raise ConfigError(f"{self.replicas} replicas do not divide over {self.processes} processes")
        from dlbench.data.augment import Augment

        Augment.parse(self.augment)

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    @property
    def prefetch_depth(self) -> int:
        """Batches prepared ahead in a background thread: 2 on a GPU; none on the CPU, where the
        thread would compete with the timed step for the same cores."""
        if self.prefetch is not None:
            return self.prefetch
        return 2 if self.device == "gpu" else 0

    @property
    def per_replica_batch(self) -> int:
        return self.global_batch_size // self.replicas if self.global_batch_size else self.batch_size

    @property
    def global_batch(self) -> int:
        return self.global_batch_size or self.batch_size * self.replicas

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        return cls(**data)


def with_default_run(default_run: dict[str, Any], chosen: dict[str, Any]) -> dict[str, Any]:
    """``chosen`` settings completed by a model's declared bare run. A chosen ``steps`` or ``epochs``
    replaces the other of the two; a chosen dataset other than the bare run's drops its step count
    (a run on real data trains epochs)."""
    merged = {**default_run, **chosen}
    if "dataset" in chosen and chosen["dataset"] != default_run.get("dataset", chosen["dataset"]) \
            and "steps" not in chosen:
        merged.pop("steps", None)
    if "steps" in chosen and "epochs" not in chosen:
        merged.pop("epochs", None)
    elif "epochs" in chosen and "steps" not in chosen:
        merged.pop("steps", None)
    return merged
