import numpy as np
import pytest

from dlbench import registry
from dlbench.errors import ConfigError
from dlbench.graph import (
    Activation, Add, BatchNorm, Concat, Conv2d, Dense, Dropout, Flatten, GlobalAvgPool2d, GraphBuilder, init_weights, sequential,
)

PUBLISHED = sorted(name for name, info in registry.models().items() if info.published)


def test_every_zoo_model_declares_its_published_figures():
    assert set(PUBLISHED) >= {"perceptron", "mlp", "lenet5", "alexnet", "alvinn", "shallow_vgg", "vgg16", "resnet50",
                              "mobilenet_v2", "lstm"}


@pytest.mark.parametrize("name", PUBLISHED)
def test_parameter_and_mac_counts_match_published_figures(name):
    published = registry.get_model(name).published
    graph = registry.get_model(name).build(published.input_shape, published.num_classes)
    assert graph.count_params() == published.params
    assert graph.macs() == published.macs


def test_resnet50_uses_the_v1_5_layout():
    graph = registry.get_model("resnet50").build((224, 224, 3), 1000)
    strided = [n.name for n in graph.nodes if getattr(n.layer, "stride", 1) == 2 and n.layer.kind == "conv"]
    kernels = {n.name: n.layer.kernel_size for n in graph.nodes if n.layer.kind == "conv"}
    # stride 2 on conv1 (7x7), then per stage on the 3x3 conv and on the 1x1 projection shortcut
    assert [kernels[n] for n in strided] == [7, 3, 1, 3, 1, 3, 1]
    assert all(not n.layer.use_bias for n in graph.nodes if n.layer.kind == "conv")


def test_mobilenet_v2_has_depthwise_convolutions():
    graph = registry.get_model("mobilenet_v2").build((224, 224, 3), 1000)
    depthwise = [n for n in graph.nodes if n.layer.kind == "conv" and n.layer.groups > 1]
    assert len(depthwise) == 17
    assert all(n.layer.groups == graph.input_shapes(n)[0][2] == n.layer.filters for n in depthwise)


def test_lstm_reads_an_image_row_by_row():
    graph = registry.get_model("lstm").build((28, 28, 1), 10)
    assert graph.shapes["reshape1"] == (28, 28) and graph.shapes["lstm1"] == (128,)
    bias = init_weights(graph, 0)["lstm1.bias"]
    assert bias.tolist() == [0.0] * 128 + [1.0] * 128 + [0.0] * 256  # forget gate starts open


def test_shapes_are_inferred_channels_last():
    graph = registry.get_model("alexnet").build((224, 224, 3), 1000)
    assert graph.shapes["conv1"] == (55, 55, 64)
    assert graph.shapes["maxpool3"] == (6, 6, 256)
    assert graph.shapes["flatten1"] == (9216,)


def test_batch_norm_statistics_are_non_trainable():
    graph = sequential("bn", (4, 4, 3), [Conv2d(8, 3, padding=1), BatchNorm(), Activation("relu"), Flatten(), Dense(2)])
    trainable, non_trainable = graph.count_params()
    assert non_trainable == 16  # moving mean and variance of 8 channels
    assert trainable == 3 * 3 * 3 * 8 + 8 + 16 + 4 * 4 * 8 * 2 + 2


def test_residual_graph_with_add_and_concat():
    b = GraphBuilder("res", (8, 8, 4))
    x = b(Conv2d(4, 3, padding=1), b.input)
    y = b(Add(), x, b.input)
    z = b(Concat(), y, x)
    out = b.chain(z, GlobalAvgPool2d(), Dense(3))
    graph = b.build(3)
    assert graph.shapes[z] == (8, 8, 8) and graph.shapes[out] == (3,)
    assert not graph.is_sequential


@pytest.mark.parametrize(
    "layers, message",
    [
        ([Dense(4)], "Dense needs a flat"),
        ([Conv2d(4, 9), Flatten(), Dense(2)], "too small"),
        ([Flatten(), Dense(3), Activation("softmax")], "must end with Dense"),
    ],
)
def test_bad_declarations_say_what_is_wrong(layers, message):
    with pytest.raises(ConfigError, match=message):
        sequential("bad", (4, 4, 1), layers)


def test_output_must_have_one_logit_per_class():
    b = GraphBuilder("bad", (4,))
    b(Dense(3), b.input)
    with pytest.raises(ConfigError, match=r"output shape \(3,\) is not \(10,\)"):
        b.build(10)


def test_add_needs_equal_shapes():
    b = GraphBuilder("bad", (4, 4, 2))
    x = b(Conv2d(3, 1), b.input)
    b(Add(), x, b.input)
    with pytest.raises(ConfigError, match="Add needs equal shapes"):
        b.build(3)


def test_unknown_activation_lists_the_accepted_ones():
    with pytest.raises(ConfigError, match="relu, relu6, tanh"):
        Activation("swish")


def test_flatten_source_sees_through_dropout():
    graph = registry.get_model("alexnet").build((224, 224, 3), 1000)
    dense = {n.name: n for n in graph.nodes}
    assert graph.flatten_source(dense["dense1"]) == (6, 6, 256)
    assert graph.flatten_source(dense["dense2"]) is None


def test_without_dropout_keeps_everything_else():
    graph = registry.get_model("alexnet").build((224, 224, 3), 1000)
    exact = graph.without_dropout()
    rates = [n.layer.rate for n in exact.nodes if isinstance(n.layer, Dropout)]
    assert rates == [0.0, 0.0] and exact.count_params() == graph.count_params()


def test_without_dropout_also_turns_off_attentions_own_dropout():
    """verify trains gpt2 without dropout; attention's dropout on its weights is part of the layer."""
    graph = registry.get_model("gpt2").build((32,), 50_257)
    attention = [n.layer for n in graph.nodes if n.layer.kind == "attention"]
    assert attention and all(layer.dropout == 0.1 for layer in attention)
    exact = graph.without_dropout()
    assert all(getattr(n.layer, "dropout", 0.0) == 0.0 and getattr(n.layer, "rate", 0.0) == 0.0 for n in exact.nodes)
    assert exact.count_params() == graph.count_params()


def test_initial_weights_are_seeded_and_independent_of_other_layers():
    g1 = sequential("a", (28, 28, 1), [Flatten(), Dense(32), Activation("relu"), Dense(10)])
    g2 = sequential("b", (28, 28, 1), [Flatten(), Dense(32), Activation("tanh"), Dense(10)])
    w1, w1_again, w2 = init_weights(g1, 7), init_weights(g1, 7), init_weights(g2, 7)
    other_seed = init_weights(g1, 8)
    assert all(np.array_equal(w1[k], w1_again[k]) for k in w1)
    assert np.array_equal(w1["dense1.kernel"], w2["dense1.kernel"])
    assert not np.array_equal(w1["dense1.kernel"], other_seed["dense1.kernel"])
    assert all(v.dtype == np.float32 for v in w1.values())


def test_initialisers_have_their_documented_scale():
    graph = sequential("s", (64, 64, 1), [Flatten(), Dense(256, kernel_init="he_normal"), Dense(10)])
    w = init_weights(graph, 0)["dense1.kernel"]
    assert w.std() == pytest.approx(np.sqrt(2 / 4096), rel=0.02)
    glorot = init_weights(graph, 0)["dense2.kernel"]
    limit = np.sqrt(6 / (256 + 10))
    assert np.abs(glorot).max() <= limit and np.abs(glorot).max() > 0.95 * limit


def test_unknown_initialiser_is_a_clear_error():
    graph = sequential("s", (2,), [Dense(2, kernel_init="orthogonal")])
    with pytest.raises(ConfigError, match="unknown initialiser 'orthogonal'"):
        init_weights(graph, 0)
