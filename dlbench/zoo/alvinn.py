"""ALVINN (Pomerleau, 1989): the road follower that steered a van from a 30x32 camera retina
through 4 hidden units to 30 steering-direction outputs."""

from dlbench.graph import Activation, Dense, Flatten, Graph, sequential

INPUT_SHAPE = (30, 32, 1)
NUM_CLASSES = 30


def build(input_shape, num_classes: int) -> Graph:
    return sequential("alvinn", input_shape, [Flatten(), Dense(4), Activation("sigmoid"), Dense(num_classes)])
