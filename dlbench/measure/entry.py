"""The worker's ``run`` entry: a configuration in, its record out, training or serving as its task says."""

from __future__ import annotations

from dlbench.config import RunConfig
from dlbench.measure import inference, loop
from dlbench.measure.prepare import Progress


def run(payload: dict, progress: Progress) -> dict:
    config = RunConfig.from_dict(payload)
    measure = inference.run if config.task == "inference" else loop.run
    return measure(config, progress).to_dict()
