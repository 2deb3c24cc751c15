"""The multilayer perceptron of the Keras quickstart: Dense(512, relu) -> Dense(10).

407,050 parameters at 28x28.
"""

from dlbench.graph import Activation, Dense, Flatten, Graph, sequential


def build(input_shape, num_classes: int) -> Graph:
    return sequential(
        "mlp",
        input_shape,
        [Flatten(), Dense(512, kernel_init="he_uniform"), Activation("relu"), Dense(num_classes)],
    )
