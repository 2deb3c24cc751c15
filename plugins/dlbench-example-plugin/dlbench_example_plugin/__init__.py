"""An example dlbench model plugin: copy this package to add your own models.

``backprop_mlp`` is declared with dlbench's framework-neutral layers, so every backend runs it
from the same initial weights. ``backprop_mlp_torch`` is the same network hand-written in
PyTorch, for architectures the layer graph cannot express; it runs on the torch backend only.
``swish_net`` uses a layer this plugin adds to the graph (:mod:`dlbench_example_plugin.swish`),
which it builds natively on torch, TensorFlow and JAX.
"""

from dlbench import hookimpl
from dlbench.graph import Activation, Conv2d, Dense, Flatten, Graph, MaxPool2d, sequential
from dlbench.registry import LayerInfo, ModelInfo
from dlbench_example_plugin.swish import Swish


def build(input_shape, num_classes: int) -> Graph:
    """Rumelhart, Hinton and Williams (1986): one hidden layer of sigmoid units."""
    return sequential(
        "backprop_mlp",
        input_shape,
        [Flatten(), Dense(100, kernel_init="xavier_uniform"), Activation("sigmoid"), Dense(num_classes)],
    )


def build_swish_net(input_shape, num_classes: int) -> Graph:
    """A small convnet with Swish after its convolution and its hidden dense layer."""
    return sequential("swish_net", input_shape, [Conv2d(8, 3, padding=1), Swish(), MaxPool2d(2), Flatten(),
                                                 Dense(32), Swish(), Dense(num_classes)])


@hookimpl
def register_layers(register):
    register(LayerInfo(Swish, "x * sigmoid(beta * x), beta learned per feature (Ramachandran et al., 2017)",
                       {"torch": "dlbench_example_plugin.swish:torch_swish",
                        "tensorflow": "dlbench_example_plugin.swish:tensorflow_swish",
                        "jax": "dlbench_example_plugin.swish:jax_swish"}))


@hookimpl
def register_models(register):
    register(ModelInfo("backprop_mlp", "backpropagation MLP (1986), 100 sigmoid units [example plugin]", build))
    register(
        ModelInfo(
            "backprop_mlp_torch",
            "the same MLP hand-written in PyTorch [example plugin, torch only]",
            native={"torch": "dlbench_example_plugin.native_torch:build"},
        )
    )
    register(ModelInfo("swish_net", "a small convnet with the plugin's Swish layer [example plugin]", build_swish_net))
