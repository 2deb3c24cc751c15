"""ResNet-50 (He et al., 2015) in torchvision's v1.5 layout: the stride sits on the 3x3 conv of a
bottleneck, convolutions have no bias. 25,557,032 trainable parameters, 4.09 GMACs at 224x224x3."""

from dlbench.graph import (
    Activation, Add, BatchNorm, Conv2d, Dense, GlobalAvgPool2d, Graph, GraphBuilder, MaxPool2d,
)

INPUT_SHAPE = (224, 224, 3)
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # width, blocks, first stride


def _conv_bn(b: GraphBuilder, x: str, filters: int, k: int, stride: int = 1, relu: bool = True) -> str:
    x = b(Conv2d(filters, k, stride=stride, padding=k // 2, use_bias=False), x)
    x = b(BatchNorm(), x)
    return b(Activation("relu"), x) if relu else x


def _bottleneck(b: GraphBuilder, x: str, in_ch: int, width: int, stride: int) -> str:
    y = _conv_bn(b, x, width, 1)
    y = _conv_bn(b, y, width, 3, stride)
    y = _conv_bn(b, y, 4 * width, 1, relu=False)
    shortcut = x if stride == 1 and in_ch == 4 * width else _conv_bn(b, x, 4 * width, 1, stride, relu=False)
    return b(Activation("relu"), b(Add(), y, shortcut))


def build(input_shape, num_classes: int) -> Graph:
    b = GraphBuilder("resnet50", input_shape)
    x = _conv_bn(b, b.input, 64, 7, 2)
    x = b(MaxPool2d(3, 2, padding=1), x)
    channels = 64
    for width, blocks, stride in STAGES:
        for i in range(blocks):
            x = _bottleneck(b, x, channels, width, stride if i == 0 else 1)
            channels = 4 * width
    b.chain(x, GlobalAvgPool2d(), Dense(num_classes))
    return b.build(num_classes)
