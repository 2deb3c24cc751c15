"""Registers the built-in model declarations (a plugin like any other)."""

from dlbench.hookspecs import hookimpl
from dlbench.registry import ModelInfo
from dlbench.zoo import alexnet, lenet5, mlp, perceptron


@hookimpl
def register_models(register):
    register(ModelInfo("perceptron", "Rosenblatt's single-layer perceptron (1957)", perceptron.build))
    register(ModelInfo("mlp", "multilayer perceptron, Dense(512, relu) -> Dense(classes)", mlp.build))
    register(ModelInfo("lenet5", "LeNet-5 (1989-98), tanh and average pooling", lenet5.build, lenet5.INPUT_SHAPE))
    register(ModelInfo("alexnet", "AlexNet (2012), torchvision layout", alexnet.build, alexnet.INPUT_SHAPE, 1000))
