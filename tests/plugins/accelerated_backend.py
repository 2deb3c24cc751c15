"""A throwaway stand-in for a GPU backend on a machine without one: the tunable test backend,
claiming the accelerator described (as JSON) by ``$DLBENCH_TEST_ACCELERATOR`` and timing a numpy
matmul as its GEMM, so tests can tell apart what is keyed by the accelerator."""

from __future__ import annotations

import json
import os

import numpy as np

from dlbench import hookimpl
from dlbench.registry import BackendInfo
from tests.plugins.numpy_backend import LAYERS
from tests.plugins.tunable_backend import TunableBackend

VARIABLE = "DLBENCH_TEST_ACCELERATOR"


class AcceleratedBackend(TunableBackend):
    name = "accelerated"

    def accelerator(self):
        return json.loads(os.environ[VARIABLE]) if os.environ.get(VARIABLE) else None

    def gemm(self, precision, n):
        a = np.ones((n, n), np.float32)
        return lambda: a @ a


@hookimpl
def register_backends(register):
    register(BackendInfo("accelerated", "test backend claiming an accelerator",
                         "tests.plugins.accelerated_backend:AcceleratedBackend", requires=("numpy",), layers=LAYERS))
