"""LeNet-5 (LeCun et al., 1989-98) for 28x28 inputs, padded to the original 32x32 field of view.

conv(6, 5x5, pad 2)-tanh-avgpool, conv(16, 5x5)-tanh-avgpool, 120-84-10:
61,706 parameters and 416,520 MACs per 28x28x1 image.
"""

from dlbench.graph import Activation, AvgPool2d, Conv2d, Dense, Flatten, Graph, sequential

INPUT_SHAPE = (28, 28, 1)


def build(input_shape, num_classes: int) -> Graph:
    return sequential(
        "lenet5",
        input_shape,
        [
            Conv2d(6, 5, padding=2, kernel_init="xavier_uniform"), Activation("tanh"), AvgPool2d(2),
            Conv2d(16, 5, kernel_init="xavier_uniform"), Activation("tanh"), AvgPool2d(2),
            Flatten(),
            Dense(120), Activation("tanh"),
            Dense(84), Activation("tanh"),
            Dense(num_classes),
        ],
    )
