"""A third-party dlbench backend: ONNX Runtime, inference only.

This module is what the entry point loads, so it imports neither ``onnx`` nor ``onnxruntime``
(``dlbench list`` stays fast); :mod:`dlbench_onnxruntime.backend` is imported when a run uses it.
"""

from dlbench import hookimpl
from dlbench.registry import BackendInfo


@hookimpl
def register_backends(register):
    register(
        BackendInfo(
            name="onnxruntime",
            summary="ONNX Runtime, inference only: the layer graph exported with onnx.helper [plugin]",
            factory="dlbench_onnxruntime.backend:OnnxRuntimeBackend",
            requires=("onnx", "onnxruntime"),
            install_hint="pip install -e plugins/dlbench-onnxruntime",
            aliases=("ort",),
            color="#7f7f7f",
            tasks=("inference",),
            layers=("conv", "dense", "maxpool", "avgpool", "gap", "bn", "dropout", "flatten", "reshape", "relu", "relu6",
                    "tanh", "sigmoid", "softmax", "gelu", "gelu_tanh", "lstm", "add", "concat", "ln", "attention",
                    "token_embedding", "position_embedding", "class_token", "token_pool", "tied_dense"),
        )
    )
