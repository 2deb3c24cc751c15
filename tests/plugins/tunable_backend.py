"""A throwaway backend whose performance settings have known costs: each train step and each eval
call sleeps ``delay_ms`` plus ``layout``'s extra milliseconds, so tests know which candidate is fastest.

``TunableBackend.calls`` counts train steps and eval calls run in this process (tuning ones included).
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
    serving = "tests.plugins.tunable_serving"
    calls = 0

    def _slowed(self, inner):
        pause = (self.settings["delay_ms"] + EXTRA_MS[self.settings["layout"]]) / 1e3

        def step(*args):
            type(self).calls += 1
            time.sleep(pause)
            return inner(*args)

        return step

    def train_step(self, model, optimizer, seed):
        return self._slowed(super().train_step(model, optimizer, seed))

    def eval_step(self, model):
        return self._slowed(super().eval_step(model))


@hookimpl
def register_backends(register):
    register(BackendInfo("tunable", "test backend with timed performance settings",
                         "tests.plugins.tunable_backend:TunableBackend", requires=("numpy",), layers=LAYERS))
