"""The settings of one run, validated on creation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from dlbench.errors import ConfigError
from dlbench.optim import DEFAULT_LR, OPTIMIZERS

DEVICES = ("cpu", "gpu")


@dataclass(frozen=True)
class RunConfig:
    """One benchmark run. ``steps`` (timed steps after warm-up) overrides ``epochs`` when set."""

    backend: str = "torch"
    model: str = "lenet5"
    dataset: str = "digits"
    batch_size: int = 64
    epochs: int = 10
    steps: int | None = None
    warmup: int = 3
    optimizer: str = "adam"
    lr: float | None = None
    seed: int = 0
    device: str = "cpu"
    data_dir: str | None = None
    download: bool = False
    timeout: float | None = None
    augment: str = "none"
    prefetch: int | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("batch_size", "epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be a positive integer, got {getattr(self, name)!r}")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            raise ConfigError(f"steps must be a positive integer, got {self.steps!r}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ConfigError(f"warmup must be a non-negative integer, got {self.warmup!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"learning rate must be positive, got {self.lr}")
        if self.device not in DEVICES:
            raise ConfigError(f"unknown device {self.device!r}; choose one of: {', '.join(DEVICES)}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"timeout must be positive seconds, got {self.timeout}")

        if self.prefetch is not None and (not isinstance(self.prefetch, int) or self.prefetch < 0):
            raise ConfigError(f"prefetch must be a non-negative number of batches, got {self.prefetch!r}")
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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        return cls(**data)
