"""Registers the TensorFlow backend without importing tensorflow."""

from dlbench.hookspecs import hookimpl
from dlbench.registry import BackendInfo


@hookimpl
def register_backends(register):
    register(
        BackendInfo(
            name="tensorflow",
            summary="TensorFlow 2 / Keras layers, tf.function steps, XLA on unless tuning finds it slower (-o xla= pins)",
            color="#ff8f00",
            distributed="dlbench_backends.tensorflow.distributed",
            factory="dlbench_backends.tensorflow.backend:TensorFlowBackend",
            requires=("tensorflow",),
            install_hint="pip install 'dlbench[tensorflow]'",
            aliases=("tf",),
        )
    )
