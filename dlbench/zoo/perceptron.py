"""Rosenblatt's perceptron (1957): one layer of weights from the inputs straight to the classes.

Trained here, like every model, with softmax cross-entropy: a multiclass linear classifier.
"""

from dlbench.graph import Dense, Flatten, Graph, sequential


def build(input_shape, num_classes: int) -> Graph:
    return sequential("perceptron", input_shape, [Flatten(), Dense(num_classes, kernel_init="xavier_uniform")])
