"""A throwaway model plugin: a two-layer tanh network."""

from dlbench import hookimpl
from dlbench.graph import Activation, Dense, Flatten, sequential
from dlbench.registry import ModelInfo


def build(input_shape, num_classes):
    return sequential("tiny", input_shape, [Flatten(), Dense(16), Activation("tanh"), Dense(num_classes)])


@hookimpl
def register_models(register):
    register(ModelInfo("tiny", "two-layer tanh network (test plugin)", build))
