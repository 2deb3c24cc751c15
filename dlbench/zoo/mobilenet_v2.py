"""MobileNetV2 (Sandler et al., 2018), torchvision layout: inverted residual blocks with linear
bottlenecks and depthwise 3x3 convolutions. 3,504,872 trainable parameters, 0.30 GMACs at 224x224x3."""

from dlbench.graph import (
    Activation, Add, BatchNorm, Conv2d, Dense, Dropout, GlobalAvgPool2d, Graph, GraphBuilder,
)

INPUT_SHAPE = (224, 224, 3)
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _conv_bn(b: GraphBuilder, x: str, filters: int, k: int, stride: int = 1, groups: int = 1, relu6: bool = True) -> str:
    x = b(Conv2d(filters, k, stride=stride, padding=k // 2, groups=groups, use_bias=False), x)
    x = b(BatchNorm(), x)
    return b(Activation("relu6"), x) if relu6 else x


def _inverted_residual(b: GraphBuilder, x: str, in_ch: int, out_ch: int, stride: int, expand: int) -> str:
    hidden = in_ch * expand
    y = _conv_bn(b, x, hidden, 1) if expand != 1 else x
    y = _conv_bn(b, y, hidden, 3, stride, groups=hidden)  # depthwise
    y = _conv_bn(b, y, out_ch, 1, relu6=False)  # linear bottleneck
    return b(Add(), x, y) if stride == 1 and in_ch == out_ch else y


def build(input_shape, num_classes: int) -> Graph:
    b = GraphBuilder("mobilenet_v2", input_shape)
    x, channels = _conv_bn(b, b.input, 32, 3, 2), 32
    for expand, out_ch, repeats, stride in SETTINGS:
        for i in range(repeats):
            x = _inverted_residual(b, x, channels, out_ch, stride if i == 0 else 1, expand)
            channels = out_ch
    x = _conv_bn(b, x, 1280, 1)
    b.chain(x, GlobalAvgPool2d(), Dropout(0.2), Dense(num_classes))
    return b.build(num_classes)
