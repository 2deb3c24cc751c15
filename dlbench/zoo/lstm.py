"""An LSTM sequence classifier (Hochreiter and Schmidhuber, 1997): an image read row by row, as
in the sequential-MNIST benchmark (28 steps of 28 features), one LSTM layer of 128 units, then a
dense classifier."""

from dlbench.graph import LSTM, Dense, Graph, Reshape, sequential

INPUT_SHAPE = (28, 28, 1)


def build(input_shape, num_classes: int) -> Graph:
    h, w, c = input_shape
    return sequential("lstm", input_shape, [Reshape((h, w * c)), LSTM(128), Dense(num_classes)])
