"""Fair by measurement: each backend runs at its fastest *performance* settings (those that change
speed, never the numerics), timed per model, batch, device and dtype before the timed run and
cached per machine. See docs/measuring/fairness.md."""

from dlbench.tuning.describe import describe
from dlbench.tuning.tuner import tune

__all__ = ["describe", "tune"]
