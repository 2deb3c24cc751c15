"""A throwaway backend whose performance settings have known costs: each train step sleeps
``delay_ms`` plus ``layout``'s extra milliseconds, so tests know which candidate is fastest.

``TunableBackend.calls`` counts train steps run in this process (tuning ones included).
"""

from __future__ import annotations

import time

from dlbench import hookimpl
from dlbench.backend import Option
from dlbench.registry import BackendInfo
from tests.plugins.numpy_backend import LAYERS, NumpyBackend

EXTRA_MS = {"plain": 0.0, "padded": 20.0}


class TunableBackend(NumpyBackend):
    name = "tunable"
    options = {
        **NumpyBackend.options,
        "delay_ms": Option(40, "sleep per step (a performance setting)", (40, 2), tune={"cpu": (40, 2)}),
        "layout": Option("padded", "adds its sleep per step (a performance setting)", tuple(EXTRA_MS),
                         tune={"cpu": tuple(EXTRA_MS)}),
        "scale": Option(1.0, "a numerics setting: never tuned"),
    }
    calls = 0

    def train_step(self, model, optimizer, seed):
        inner = super().train_step(model, optimizer, seed)
        pause = (self.settings["delay_ms"] + EXTRA_MS[self.settings["layout"]]) / 1e3

        def step(x, y):
            type(self).calls += 1
            time.sleep(pause)
            return inner(x, y)

        return step


@hookimpl
def register_backends(register):
    register(BackendInfo("tunable", "test backend with timed performance settings",
                         "tests.plugins.tunable_backend:TunableBackend", requires=("numpy",), layers=LAYERS))
