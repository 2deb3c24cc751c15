"""A throwaway model with two branches joined by Concat (no built-in model uses the layer)."""

from dlbench import hookimpl
from dlbench.graph import Activation, Concat, Conv2d, Dense, Flatten, GraphBuilder, MaxPool2d
from dlbench.registry import ModelInfo

INPUT_SHAPE = (8, 8, 1)


def build(input_shape, num_classes):
    b = GraphBuilder("concat_net", input_shape)
    left = b.chain(b.input, Conv2d(4, 3, padding=1), Activation("relu"))
    right = b.chain(b.input, Conv2d(3, 1), Activation("tanh"))
    x = b(Concat(), left, right)  # 4 + 3 channels: a layout mistake shows in the dense weights after it
    b.chain(x, MaxPool2d(2, 2), Flatten(), Dense(num_classes))
    return b.build(num_classes)


def build_flatten_concat(input_shape, num_classes):
    """Each branch flattened before the Concat: the dense layer reads two flattened images in a row."""
    b = GraphBuilder("flatten_concat_net", input_shape)
    left = b.chain(b.input, Conv2d(4, 3, padding=1), Activation("relu"), Flatten())
    right = b.chain(b.input, Conv2d(2, 1), Activation("tanh"), MaxPool2d(2, 2), Flatten())
    b.chain(b(Concat(), left, right), Dense(num_classes))
    return b.build(num_classes)


@hookimpl
def register_models(register):
    register(ModelInfo("concat_net", "two conv branches joined by Concat (test plugin)", build, INPUT_SHAPE))
    register(ModelInfo("flatten_concat_net", "two flattened branches joined by Concat, then Dense (test plugin)",
                       build_flatten_concat, INPUT_SHAPE))
