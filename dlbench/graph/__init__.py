"""Framework-neutral model declarations: layers, graphs, canonical weights."""

from dlbench.graph.attention import MultiHeadAttention
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
    LayerNorm,
    MaxPool2d,
    Param,
    Reshape,
)
from dlbench.graph.tokens import ClassToken, PositionEmbedding, TiedDense, TokenEmbedding, TokenPool

#: every layer kind the core graph declares (an activation's kind is its function)
CORE_KINDS = frozenset(
    [cls.kind for cls in (Add, AvgPool2d, BatchNorm, ClassToken, Concat, Conv2d, Dense, Dropout, Flatten,
                          GlobalAvgPool2d, LayerNorm, LSTM, MaxPool2d, MultiHeadAttention, PositionEmbedding,
                          Reshape, TiedDense, TokenEmbedding, TokenPool)] + list(ACTIVATIONS))

__all__ = [
    "ACTIVATIONS", "CORE_KINDS", "INITIALIZERS", "INPUT", "Activation", "Add", "AvgPool2d", "BatchNorm", "ClassToken", "Concat",
    "Conv2d", "Dense", "Dropout", "Flatten", "GlobalAvgPool2d", "Graph", "GraphBuilder", "Layer", "LayerNorm", "LSTM",
    "MaxPool2d", "MultiHeadAttention", "Node", "Param", "PositionEmbedding", "Reshape", "TiedDense", "TokenEmbedding",
    "TokenPool", "init_weights", "sequential",
]
