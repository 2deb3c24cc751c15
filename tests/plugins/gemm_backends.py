"""Two copies of the numpy test backend for `dlbench calibrate`: ``numpy-gemm`` times a real numpy
matmul, ``numpy-hang`` never returns from its matmul (for calibrate's per-backend --timeout)."""

from __future__ import annotations

import time

import numpy as np

from dlbench import hookimpl
from dlbench.registry import BackendInfo
from tests.plugins.numpy_backend import LAYERS, NumpyBackend


class GemmBackend(NumpyBackend):
    name = "numpy-gemm"

    def gemm(self, precision, n):
        a = np.ones((n, n), np.float32)
        return lambda: a @ a


class HangingGemmBackend(NumpyBackend):
    name = "numpy-hang"

    def gemm(self, precision, n):
        time.sleep(3600)


@hookimpl
def register_backends(register):
    register(BackendInfo("numpy-gemm", "numpy backend that times a matmul (test plugin)",
                         "tests.plugins.gemm_backends:GemmBackend", layers=LAYERS))
    register(BackendInfo("numpy-hang", "numpy backend whose matmul never returns (test plugin)",
                         "tests.plugins.gemm_backends:HangingGemmBackend", layers=LAYERS))
