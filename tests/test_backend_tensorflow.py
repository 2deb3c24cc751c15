"""What only the TensorFlow backend does: the XLA switch and Keras mixed-precision policies. What
every backend promises, with XLA and without, is checked in tests/test_backend_contract.py."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from dlbench_backends.tensorflow.backend import TensorFlowBackend  # noqa: E402

pytestmark = pytest.mark.tensorflow


def test_the_xla_switch_is_recorded_and_batches_are_placed_on_the_cpu():
    assert TensorFlowBackend().environment()["xla"] is True  # Keras 3's jit_compile="auto" default
    backend = TensorFlowBackend(options={"xla": False})
    env = backend.environment()
    assert env["xla"] is False and {"keras", "threads", "interop_threads"} <= env.keys()
    x, y = backend.to_device(np.zeros((2, 3), np.float32), np.array([0, 1]))
    assert x.dtype == tf.float32 and y.dtype == tf.int64 and "CPU" in x.device


@pytest.mark.parametrize(("precision", "policy", "loss_scaling"), [
    ("float32", "float32", None),
    ("mixed-bfloat16", "mixed_bfloat16", None),
    ("mixed-float16", "mixed_float16", "dynamic (LossScaleOptimizer)"),
])
def test_mixed_precision_is_a_keras_dtype_policy(precision, policy, loss_scaling):
    env = TensorFlowBackend(precision=precision).environment()
    assert (env["precision"], env["keras_dtype_policy"], env["loss_scaling"]) == (precision, policy, loss_scaling)
