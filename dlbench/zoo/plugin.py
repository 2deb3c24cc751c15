"""Registers the built-in model declarations (a plugin like any other)."""

from dlbench.hookspecs import hookimpl
from dlbench.registry import ModelInfo
from dlbench.zoo import alexnet, alvinn, lenet5, lstm, mlp, mobilenet_v2, perceptron, resnet50, shallow_vgg, vgg16


@hookimpl
def register_models(register):
    register(ModelInfo("perceptron", "Rosenblatt's single-layer perceptron (1957)", perceptron.build))
    register(ModelInfo("mlp", "multilayer perceptron, Dense(512, relu) -> Dense(classes)", mlp.build))
    register(ModelInfo("lenet5", "LeNet-5 (1989-98), tanh and average pooling", lenet5.build, lenet5.INPUT_SHAPE))
    register(ModelInfo("alvinn", "ALVINN road follower (1989): 30x32 retina, 4 hidden, 30 outputs", alvinn.build,
                       alvinn.INPUT_SHAPE, alvinn.NUM_CLASSES))
    register(ModelInfo("alexnet", "AlexNet (2012), torchvision layout", alexnet.build, alexnet.INPUT_SHAPE, 1000))
    register(ModelInfo("shallow_vgg", "ShallowVGGNet: 2 conv-BN blocks (32, 64), FC 512", shallow_vgg.build, shallow_vgg.INPUT_SHAPE))
    register(ModelInfo("vgg16", "VGG16 (2014), torchvision layout", vgg16.build, vgg16.INPUT_SHAPE, 1000))
    register(ModelInfo("resnet50", "ResNet-50 v1.5 (2015): residual bottlenecks, batch norm", resnet50.build,
                       resnet50.INPUT_SHAPE, 1000))
    register(ModelInfo("mobilenet_v2", "MobileNetV2 (2018): inverted residuals, depthwise convs", mobilenet_v2.build,
                       mobilenet_v2.INPUT_SHAPE, 1000))
    register(ModelInfo("lstm", "LSTM (1997) reading an image row by row (sequential MNIST)", lstm.build, lstm.INPUT_SHAPE))
