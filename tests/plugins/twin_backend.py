"""The numpy test backend registered a second time, as ``numpy-twin``: two cheap backends for
tests of sweeps across backends (used by tests/test_executors.py)."""

from dlbench import hookimpl
from dlbench.registry import BackendInfo
from tests.plugins.numpy_backend import LAYERS


@hookimpl
def register_backends(register):
    register(BackendInfo("numpy-twin", "the numpy test backend under a second name (tests)",
                         "tests.plugins.numpy_backend:NumpyBackend", layers=LAYERS))
