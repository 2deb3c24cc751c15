"""Framework-neutral model declarations: layers, graphs, canonical weights."""

from dlbench.graph.graph import INPUT, Graph, GraphBuilder, Node, sequential
from dlbench.graph.init import INITIALIZERS, init_weights
from dlbench.graph.layers import (
    ACTIVATIONS,
    Activation,
    Add,
    AvgPool2d,
    BatchNorm,
    Concat,
    Conv2d,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2d,
    Layer,
    LSTM,
    MaxPool2d,
    Param,
    Reshape,
)

__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "INPUT", "Activation", "Add", "AvgPool2d", "BatchNorm", "Concat",
    "Conv2d", "Dense", "Dropout", "Flatten", "GlobalAvgPool2d", "Graph", "GraphBuilder", "Layer", "LSTM",
    "MaxPool2d", "Node", "Param", "Reshape", "init_weights", "sequential",
]
