"""AlexNet (Krizhevsky et al., 2012) in torchvision's single-tower layout.

61,100,840 parameters and 714,188,480 MACs per 224x224x3 image with 1000 classes. torchvision's
adaptive average pool to 6x6 is the identity at 224x224, the only input size declared here.
"""

from dlbench.graph import Activation, Conv2d, Dense, Dropout, Flatten, Graph, MaxPool2d, sequential

INPUT_SHAPE = (224, 224, 3)


def build(input_shape, num_classes: int) -> Graph:
    relu = Activation("relu")
    return sequential(
        "alexnet",
        input_shape,
        [
            Conv2d(64, 11, stride=4, padding=2), relu, MaxPool2d(3, 2),
            Conv2d(192, 5, padding=2), relu, MaxPool2d(3, 2),
            Conv2d(384, 3, padding=1), relu,
            Conv2d(256, 3, padding=1), relu,
            Conv2d(256, 3, padding=1), relu, MaxPool2d(3, 2),
            Flatten(),
            Dropout(0.5), Dense(4096), relu,
            Dropout(0.5), Dense(4096), relu,
            Dense(num_classes),
        ],
    )
