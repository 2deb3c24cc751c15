"""The ONNX Runtime backend: inference only. The graph with its canonical weights is exported to
ONNX (:mod:`dlbench_onnxruntime.convert`) and served by an ``onnxruntime.InferenceSession`` on the
CPU execution provider, or CUDA's with ``--device gpu``.

The session is created at the first call of the eval step, so the run's first-call time includes
ONNX Runtime's graph optimisation, as JAX's and TensorFlow's include their compilation.

Performance settings, tuned per model and batch like the other backends' (never the numerics: the
optimiser's fusions reorder float32 arithmetic only): the graph optimisation level, and on the CPU
the session's intra-op threads (its default, one per physical core, or one).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnx
import onnxruntime as ort

from dlbench.backend import Backend, Option
from dlbench.environment import cpu_model
from dlbench.errors import ConfigError
from dlbench.graph import Graph
from dlbench.optim import OptimizerSpec
from dlbench_onnxruntime.convert import INPUT_NAME, OPSET, OUTPUT_NAME, fits, save, to_onnx

INFERENCE_ONLY = "onnxruntime is an inference-only backend; use --task inference"
LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass
class OrtModel:
    graph: Graph
    weights: dict[str, np.ndarray]  # canonical; an inference-only model never changes them
    proto: onnx.ModelProto
    session: ort.InferenceSession | None = None
    folder: tempfile.TemporaryDirectory | None = None  # a model over 2 GB, written out for its session


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    #: what this backend can run: no ``train`` (``verify`` then compares the initial logits only)
    tasks = ("inference",)
    options = {
        "optimization": Option("all", "ONNX Runtime graph optimisation level", tuple(LEVELS),
                               tune={"cpu": tuple(LEVELS), "gpu": tuple(LEVELS)}),
        # one thread can beat a pool of them on a small model, where waking the pool costs more than it brings
        "threads": Option(0, "intra-op threads of the session; 0: ONNX Runtime's default, one per physical core",
                          tune={"cpu": (0, 1)}),
    }
    fixed_settings = {"opset": OPSET}
    serving = "dlbench_onnxruntime.serving"

    def __init__(self, device: str = "cpu", options=None, dtype: str = "float32"):
        super().__init__(device, options, dtype)
        threads = self.settings["threads"]
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise ConfigError(f"onnxruntime: threads must be 0 (ONNX Runtime's default) or a positive count, "
                              f"got {threads!r}")
        available = ort.get_available_providers()
        if device == "gpu":
            if "CUDAExecutionProvider" not in available:
                raise ConfigError("onnxruntime: --device gpu but CUDAExecutionProvider is not available "
                                  f"(install onnxruntime-gpu); available: {', '.join(available)}")
            self.providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            self.providers = ["CPUExecutionProvider"]

    def environment(self) -> dict:
        return {
            "framework": "onnxruntime",
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
            "providers": self.providers,
            "device_name": cpu_model() if self.device == "cpu" else ort.get_device(),
            "threads": self.settings["threads"] or "onnxruntime default (one per physical core)",
            "precision": self.dtype,
        }

    # -- the model -------------------------------------------------------------------------
    def build(self, graph: Graph, weights: Mapping[str, np.ndarray]) -> OrtModel:
        held = {k: np.array(v, dtype=self.dtype) for k, v in weights.items()}
        return OrtModel(graph, held, to_onnx(graph, held, self.dtype))

    def session_options(self) -> ort.SessionOptions:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = LEVELS[self.settings["optimization"]]
        opts.intra_op_num_threads = self.settings["threads"]
        return opts

    def session(self, model: OrtModel) -> ort.InferenceSession:
        """From the serialised model in memory; from a file with its weights beside it where the
        model is over protobuf's 2 GB."""
        if model.session is None:
            if fits(model.proto):
                source = model.proto.SerializeToString()
            else:
                model.folder = tempfile.TemporaryDirectory(prefix="dlbench-onnx-")
                source = str(save(model.proto, Path(model.folder.name) / "model.onnx"))
            model.session = ort.InferenceSession(source, self.session_options(), providers=self.providers)
        return model.session

    def export_weights(self, model: OrtModel) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in model.weights.items()}

    def count_params(self, model: OrtModel) -> tuple[int, int]:
        """From the canonical weights the model was exported with (ONNX has no notion of trainable)."""
        declared = model.graph.params()
        trainable = sum(model.weights[k].size for k, p in declared.items() if p.trainable)
        return trainable, sum(model.weights[k].size for k, p in declared.items() if not p.trainable)

    # -- data and steps --------------------------------------------------------------------
    def to_device(self, x: np.ndarray, y: np.ndarray | None = None):
        # token ids stay ids: int64, the type the exported model declares for them
        x = np.ascontiguousarray(x, dtype=np.int64 if np.issubdtype(x.dtype, np.integer) else self.dtype)
        if self.device == "gpu":
            x = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
        return x, y

    def train_step(self, model: OrtModel, optimizer: OptimizerSpec, seed: int):
        raise ConfigError(INFERENCE_ONLY)

    def eval_step(self, model: OrtModel):
        return lambda x: run(self.session(model), x)

    def sync(self, value: Any) -> None:
        """Nothing to wait for: ``run`` returns once the outputs are written (and synchronises the
        CUDA stream with I/O binding)."""

    def to_numpy(self, value: Any) -> np.ndarray:
        return value if isinstance(value, np.ndarray) else value.numpy()

    # -- probes ----------------------------------------------------------------------------
    def peak_device_memory(self) -> int | None:
        return None  # ONNX Runtime exposes no peak-allocation counter

    def train_step_flops(self, model: OrtModel, optimizer: OptimizerSpec, x, y):
        return None, INFERENCE_ONLY

    def gemm(self, precision: str, n: int):
        """One n x n @ n x n float32 MatMul through a session (``dlbench calibrate``'s ceiling)."""
        if precision != "float32":
            raise ConfigError(f"onnxruntime: cannot time a {precision} matmul; accepted: float32")
        session = ort.InferenceSession(matmul_model(n).SerializeToString(), providers=self.providers)
        rng = np.random.default_rng(0)
        feeds = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
        return lambda: session.run(None, feeds)


def run(session: ort.InferenceSession, x: Any) -> Any:
    """The logits of ``x``: a numpy array, or an OrtValue already on the GPU (its output stays there)."""
    if isinstance(x, np.ndarray):
        return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
    binding = session.io_binding()
    binding.bind_ortvalue_input(INPUT_NAME, x)
    binding.bind_output(OUTPUT_NAME, "cuda")
    session.run_with_iobinding(binding)
    return binding.get_outputs()[0]


def matmul_model(n: int) -> onnx.ModelProto:
    from onnx import TensorProto, helper

    io = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n]) for name in ("a", "b", "c")]
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm", io[:2], io[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = min(model.ir_version, 8)
    return model
