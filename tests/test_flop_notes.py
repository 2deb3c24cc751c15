"""Framework FLOP counters that are known not to see a layer record n/a with the reason."""

import pytest

from dlbench import registry
from dlbench.graph import init_weights
from dlbench.optim import OptimizerSpec


def lstm(backend_name: str):
    info = registry.get_model("lstm")
    graph = info.build(info.input_shape or (28, 28, 1), 10)
    backend = registry.get_backend(backend_name).load()()
    model = backend.build(graph, init_weights(graph, 0))
    import numpy as np

    x, y = backend.to_device(np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int64))
    return backend.train_step_flops(model, OptimizerSpec.create("sgd", None), x, y)


def test_torch_does_not_count_the_lstm_recurrence():
    pytest.importorskip("torch")
    flops, note = lstm("torch")
    assert flops is None and "does not see the recurrence of LSTM" in note


def test_jax_does_not_multiply_the_lstm_loop_body():
    pytest.importorskip("jax")
    flops, note = lstm("jax")
    assert flops is None and "LSTM" in note and "once" in note
