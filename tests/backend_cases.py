"""The graphs, weights and batches the backend contract (tests/test_backend_contract.py) runs: one
graph per layer kind and layout question, models from the zoo, weights with nothing left at a default."""

from __future__ import annotations

import functools

import numpy as np

from dlbench import registry
from dlbench.graph import (
    LSTM, Activation, Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dense, Dropout, Flatten, GlobalAvgPool2d, Graph,
    GraphBuilder, LayerNorm, MaxPool2d, Reshape, init_weights, sequential,
)
from dlbench.zoo import gpt, vit


def with_random_statistics(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Canonical weights whose biases and batch-norm parameters are random too, so that no two
    parameters of a layer hold the same values and a swap or a skipped one shows."""
    w, rng = init_weights(graph, seed), np.random.default_rng(seed)
    for k in w:
        if k.endswith(("moving_mean", "gamma", "beta", "bias")):
            w[k] = rng.normal(0, 0.5, w[k].shape).astype(np.float32)
        elif k.endswith("moving_var"):
            w[k] = rng.uniform(0.5, 2.0, w[k].shape).astype(np.float32)
    return w


def batch(graph: Graph, n: int = 3, seed: int = 0):
    """Inputs and labels: images and a class each, or token ids (the first node a token embedding)
    and a next token at every position."""
    rng = np.random.default_rng(seed)
    if graph.nodes[0].layer.kind == "token_embedding":
        vocab = graph.nodes[0].layer.vocab
        return (rng.integers(0, vocab, (n, *graph.input_shape)).astype(np.int32),
                rng.integers(0, vocab, (n, *graph.input_shape)))
    return rng.standard_normal((n, *graph.input_shape)).astype(np.float32), rng.integers(0, graph.num_classes, n)


def tiny_gpt(causal_check: bool = False) -> Graph:
    """A two-layer GPT of width 16, 2 heads of 8, context 8, vocabulary 11: every decoder layer kind."""
    return gpt.build_gpt("tiny_gpt", (6,), 11, context=8, width=16, depth=2, heads=2, gelu="gelu_tanh", dropout=0.0)


def tiny_vit() -> Graph:
    """A ViT of 2x2 patches on 6x6x2 images, width 12 with 3 heads: every encoder layer kind."""
    return vit.build_vit("tiny_vit", (6, 6, 2), 5, patch=2, width=12, depth=2, heads=3, mlp=24)


def every_layer_graph() -> Graph:
    """Every layer kind, with a residual Add and Concat branches of images and of vectors."""
    b = GraphBuilder("every_layer", (9, 9, 4))
    x = b.chain(b.input, Conv2d(8, 3, padding=1, groups=2), BatchNorm(), Activation("relu6"))
    y = b.chain(x, Conv2d(8, (3, 1), padding=(1, 0), use_bias=False), Activation("sigmoid"))
    x = b(Add(), x, y)
    z = b.chain(x, MaxPool2d(3, 2, padding=1))  # 5x5
    w = b.chain(x, Conv2d(4, 3, stride=2, padding=1), Activation("tanh"))  # 5x5
    x = b(Concat(), z, w)
    g = b.chain(x, GlobalAvgPool2d())
    h = b.chain(x, AvgPool2d(2, 1), Flatten(), Dropout(0.3), Dense(12), BatchNorm(), Activation("softmax"))
    b.chain(b(Concat(), g, h), Dense(5))
    return b.build(5)


def layouts_graph() -> Graph:
    """Softmax over the channels of an image, and an image added to its own convolution (a backend
    computing channels-first must keep the two layouts apart)."""
    b = GraphBuilder("layouts", (6, 6, 3))
    x = b(Activation("softmax"), b.input)
    x = b(Add(), x, b(Conv2d(3, 1), x))
    b.chain(x, Conv2d(4, 3), Activation("softmax"), Flatten(), Dense(5))
    return b.build(5)


def flatten_concat_graph() -> Graph:
    """A flattened image reaching its Dense through a Concat, not directly."""
    b = GraphBuilder("flatten_concat", (3, 3, 2))
    b(Dense(3), b(Concat(), b(Flatten(), b.input), b(GlobalAvgPool2d(), b.input)))
    return b.build(3)


def small_conv_graph() -> Graph:
    """Conv, batch norm, pooling and dense layers: cheap to compile, for the checks that train."""
    return sequential("small_conv", (6, 6, 2), [Conv2d(4, 3, padding=1), BatchNorm(), Activation("relu"),
                                                MaxPool2d(2), Flatten(), Dense(3)])


def conv_graph(shape, kernel, stride, padding, groups, filters) -> Graph:
    return sequential("conv", shape, [Conv2d(filters, kernel, stride=stride, padding=padding, groups=groups),
                                      Flatten(), Dense(3)])


def negative(x: np.ndarray) -> np.ndarray:
    """All below zero: a max pool that padded with zeros would pick the padding at the borders."""
    return -1.0 - np.abs(x)


#: name -> (graph, input transform)
CASES = {
    "flatten_dense": (lambda: sequential("flatten", (3, 4, 5), [Flatten(), Dense(7)]), None),
    "dense_activations": (lambda: sequential("dense", (2, 3, 2), [
        Flatten(), Dense(8), Activation("tanh"), Dense(6), Activation("sigmoid"), Dense(4), Activation("relu"),
        Dense(3)]), None),
    "conv_explicit_padding": (lambda: conv_graph((6, 6, 2), 3, 2, 1, 1, 3), None),  # TF "same" would pad 0/1
    "conv_same_padding": (lambda: conv_graph((5, 7, 2), 3, 1, 1, 1, 3), None),
    "conv_asymmetric": (lambda: conv_graph((6, 8, 2), (3, 5), (1, 2), (1, 2), 1, 3), None),
    "conv_grouped": (lambda: conv_graph((7, 8, 4), (3, 2), (2, 1), (1, 2), 2, 6), None),
    "conv_grouped_same_padding": (lambda: conv_graph((5, 5, 4), 3, 1, 1, 2, 6), None),
    "conv_depthwise_multiplier": (lambda: conv_graph((6, 6, 3), 3, 2, 1, 3, 6), None),
    "depthwise_batch_norm_relu6": (lambda: sequential("depthwise", (6, 6, 4), [
        Conv2d(4, 3, stride=2, padding=1, groups=4, use_bias=False), BatchNorm(), Activation("relu6"), Flatten(),
        Dense(3)]), None),
    "max_pool_same_padding": (lambda: sequential("pool", (5, 5, 2), [MaxPool2d(3, 2, padding=1), Flatten(),
                                                                      Dense(2)]), negative),
    "max_pool_explicit_padding": (lambda: sequential("pool", (6, 6, 1), [MaxPool2d(3, 2, padding=1), Flatten(),
                                                                          Dense(2)]), negative),
    "lstm_last": (lambda: sequential("lstm", (5, 3, 2), [Reshape((5, 6)), LSTM(4), Dense(3)]), None),
    "lstm_sequences": (lambda: sequential("lstm", (5, 3, 2), [Reshape((5, 6)), LSTM(4, return_sequences=True),
                                                               Flatten(), Dense(3)]), None),
    "reshape_lstm_reshape": (lambda: sequential("reshape", (3, 4, 2), [
        Reshape((3, 8)), LSTM(2, return_sequences=True), Reshape((6,)), Dense(2)]), None),
    "every_layer": (every_layer_graph, None),
    "layouts": (layouts_graph, None),
    "flatten_concat_dense": (flatten_concat_graph, None),
    "lenet5": (lambda: registry.get_model("lenet5").build((28, 28, 1), 10), None),
    "gelu_layer_norm": (lambda: sequential("gelu_ln", (7,), [Dense(6), LayerNorm(1e-3), Activation("gelu"), Dense(5),
                                                             Activation("gelu_tanh"), Dense(3)]), None),
    "tiny_gpt": (tiny_gpt, None),
    "tiny_vit": (tiny_vit, None),
}

#: the zoo but its two largest, AlexNet and VGG16, whose layer kinds the smaller ones have (their counts
#: against the published ones: tests/test_graph.py), and a graph of every layer kind
MODELS = ["perceptron", "mlp", "lenet5", "alvinn", "shallow_vgg", "resnet50", "mobilenet_v2", "lstm", "every_layer",
          "vit_tiny", "gpt_char"]


@functools.cache
def model_and_weights(name: str) -> tuple[Graph, dict[str, np.ndarray]]:
    """A model and its weights, made once for every backend."""
    if name == "every_layer":
        graph = every_layer_graph()
    else:
        info = registry.get_model(name)
        graph = info.build(info.input_shape or (28, 28, 1), info.num_classes)
    return graph, with_random_statistics(graph, 3)
