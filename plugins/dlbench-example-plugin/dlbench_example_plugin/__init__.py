"""An example dlbench model plugin: copy this package to add your own models.

``backprop_mlp`` is declared with dlbench's framework-neutral layers, so every backend runs it
from the same initial weights. ``backprop_mlp_torch`` is the same network hand-written in
PyTorch, for architectures the layer graph cannot express; it runs on the torch backend only.
"""

from dlbench import hookimpl
from dlbench.graph import Activation, Dense, Flatten, Graph, sequential
from dlbench.registry import ModelInfo


def build(input_shape, num_classes: int) -> Graph:
    """Rumelhart, Hinton and Williams (1986): one hidden layer of sigmoid units."""
    return sequential(
        "backprop_mlp",
        input_shape,
        [Flatten(), Dense(100, kernel_init="xavier_uniform"), Activation("sigmoid"), Dense(num_classes)],
    )


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
