"""dlbench-numpy-lite: the backend template. Copy this package to add a framework to dlbench.

The ``dlbench`` entry point (pyproject.toml) loads this module for every dlbench command, so it only
declares the backend: its name, where its class is, what it needs and what it can run. The class
(:mod:`dlbench_numpy_lite.backend`), and with it the framework, is imported only when a run uses it,
so ``dlbench list`` stays fast.
"""

from dlbench import hookimpl
from dlbench.registry import BackendInfo


@hookimpl
def register_backends(register):
    """The hook dlbench calls to learn which backends this plugin provides."""
    register(BackendInfo(
        name="numpy_lite",  # what -b takes; BackendInfo.load() gives it to the class as ``name``
        summary="plain numpy, Dense/Flatten/relu: the backend template [plugin]",
        factory="dlbench_numpy_lite.backend:NumpyLiteBackend",
        requires=("numpy",),  # modules it imports, checked without importing them
        install_hint="pip install -e plugins/dlbench-numpy-lite",
        # What it can do, read before any worker starts: a model with another layer kind, or another
        # task or optimiser, is refused with the reason. The class gets ``tasks`` from here too.
        tasks=("train", "inference"),
        layers=("dense", "flatten", "relu"),
        optimizers=("sgd", "momentum", "adagrad", "rmsprop", "adam"),
    ))
