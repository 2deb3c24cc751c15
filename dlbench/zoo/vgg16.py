"""VGG16 (Simonyan and Zisserman, 2014), torchvision layout: 138,357,544 parameters and
15.47 GMACs at 224x224x3 (torchvision's adaptive pool to 7x7 is the identity at that size)."""

from dlbench.graph import Activation, Conv2d, Dense, Dropout, Flatten, Graph, MaxPool2d, sequential

INPUT_SHAPE = (224, 224, 3)
STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def build(input_shape, num_classes: int) -> Graph:
    relu, layers = Activation("relu"), []
    for stage in STAGES:
        for filters in stage:
            layers += [Conv2d(filters, 3, padding=1), relu]
        layers.append(MaxPool2d(2))
    layers += [Flatten(), Dense(4096), relu, Dropout(0.5), Dense(4096), relu, Dropout(0.5), Dense(num_classes)]
    return sequential("vgg16", input_shape, layers)
