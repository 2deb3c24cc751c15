"""The ONNX Runtime backend plugin (plugins/dlbench-onnxruntime): export of every layer, inference only."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("dlbench_onnxruntime")

import onnx  # noqa: E402

from dlbench import registry  # noqa: E402
from dlbench.cli import cli  # noqa: E402
from dlbench.config import RunConfig  # noqa: E402
from dlbench.errors import ConfigError  # noqa: E402
from dlbench.graph import (  # noqa: E402
    LSTM, Activation, Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dense, Dropout, Flatten, GlobalAvgPool2d,
    GraphBuilder, MaxPool2d, Reshape, init_weights, sequential,
)
from dlbench.measure import inference  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402
from dlbench.result import Result  # noqa: E402
from dlbench_onnxruntime import convert  # noqa: E402
from dlbench_onnxruntime.backend import OnnxRuntimeBackend  # noqa: E402
from dlbench_onnxruntime.convert import ONNX_GATES, _lstm_gates  # noqa: E402
from tests.backend_cases import batch, model_and_weights, tiny_gpt  # noqa: E402


def every_layer_graph():
    """Conv (grouped, padded, strided), pools, batch norm on images and vectors, relu6, residual Add,
    Concat, global pooling, dropout, softmax, Flatten in HWC order, Dense."""
    b = GraphBuilder("every_layer", (12, 10, 4))
    x = b.chain(b.input, Conv2d(8, 3, padding=1), BatchNorm(), Activation("relu6"))
    y = b(Conv2d(8, 3, padding=1, groups=8), x)  # depthwise
    x = b(Add(), x, y)
    x = b(Concat(), x, b(Conv2d(4, 1, use_bias=False), x))
    x = b.chain(x, MaxPool2d(3, 2, padding=1), Activation("tanh"), AvgPool2d(2))
    g = b(GlobalAvgPool2d(), x)
    x = b.chain(x, Flatten(), Dense(16), BatchNorm(), Activation("sigmoid"), Dropout(0.5))
    x = b(Concat(), x, g)
    b.chain(x, Activation("softmax"), Dense(5))
    return b.build(5)


def layouts_graph():
    """Image tensors held channels-last meeting channels-first ones: softmax over channels in both
    layouts, an Add of the two, global pooling of a channels-last tensor."""
    b = GraphBuilder("layouts", (6, 6, 3))
    x = b(Activation("softmax"), b.input)  # still channels-last
    x = b(Add(), x, b(Conv2d(3, 1), x))  # channels-last + channels-first
    g = b(GlobalAvgPool2d(), x)
    y = b.chain(x, Conv2d(4, 3), Activation("softmax"), Flatten())
    b.chain(b(Concat(), g, y), Dense(5))
    return b.build(5)


def lstm_graph(return_sequences: bool):
    layers = [Reshape((6, 8)), LSTM(7, return_sequences=return_sequences)]
    if return_sequences:
        layers += [Activation("relu"), Flatten()]
    return sequential("seq", (6, 4, 2), [*layers, Dense(3)])


def weights_with_statistics(graph, seed=0):
    """Canonical weights with non-trivial batch-norm statistics, so inference mode is really tested."""
    w, rng = init_weights(graph, seed), np.random.default_rng(seed)
    for k in w:
        if k.endswith("moving_mean") or k.endswith("beta"):
            w[k] = rng.normal(0, 0.3, w[k].shape).astype(np.float32)
        if k.endswith("moving_var") or k.endswith("gamma"):
            w[k] = rng.uniform(0.5, 1.5, w[k].shape).astype(np.float32)
    return w


def logits(backend, graph, weights, x):
    return backend.to_numpy(backend.eval_step(backend.build(graph, weights))(backend.to_device(x)[0]))


@pytest.mark.parametrize("graph", [every_layer_graph(), layouts_graph(), lstm_graph(False), lstm_graph(True)], ids=lambda g: g.name)
def test_logits_equal_jax(graph):
    """JAX as the reference: channels-last like the declaration (the torch backend permutes a Dense's
    rows only when a Flatten feeds it directly, so the Flatten -> Concat -> Dense here is beyond it)."""
    pytest.importorskip("flax")
    from dlbench_backends.jax.backend import JaxBackend

    w = weights_with_statistics(graph)
    x = np.random.default_rng(1).normal(size=(3, *graph.input_shape)).astype(np.float32)
    expected = logits(JaxBackend(), graph, w, x)
    got = logits(OnnxRuntimeBackend(), graph, w, x)
    assert got.shape == (3, graph.num_classes)
    assert np.max(np.abs(got - expected)) / np.max(np.abs(expected)) < 1e-5


@pytest.mark.torch
@pytest.mark.parametrize("name", ["gpt_char", "vit_tiny"])
def test_transformer_logits_equal_torch(name):
    """The zoo's small transformers, every weight random (biases, layer norms): token ids in and a
    next-token distribution per position out (gpt_char: causal attention, the tied head), or an image
    in and a class out (vit_tiny: patches, class token, pooling); torch's eval logits as the reference."""
    pytest.importorskip("torch")
    from dlbench_backends.torch.backend import TorchBackend

    graph, w = model_and_weights(name)
    x, _ = batch(graph, 2)
    expected = logits(TorchBackend(), graph, w, x)
    got = logits(OnnxRuntimeBackend(), graph, w, x)
    assert got.shape == (2, *graph.output_shape) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert np.max(np.abs(got - expected)) / np.max(np.abs(expected)) < 1e-5


def test_language_model_takes_token_ids_and_ties_its_head_to_one_embedding():
    graph, w = model_and_weights("gpt_char")
    proto = OnnxRuntimeBackend().build(graph, w).proto
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [d.dim_value or d.dim_param for d in proto.graph.output[0].type.tensor_type.shape.dim] == \
        ["N", *graph.output_shape]
    embeddings = [t.name for t in proto.graph.initializer if t.name.startswith("wte.embedding")]
    assert len(embeddings) == 1  # the Gather and the head's MatMul read the same initializer
    assert sum(embeddings[0] in n.input for n in proto.graph.node) == 2


def test_model_over_the_protobuf_limit_is_served_from_a_file_with_external_data(monkeypatch):
    """A model over 2 GB cannot be one protobuf message: its session reads it from a file whose weights
    lie beside it (the limit lowered here, so that a tiny model crosses it)."""
    graph = tiny_gpt()
    w = weights_with_statistics(graph)
    x, _ = batch(graph)
    backend = OnnxRuntimeBackend()
    expected = logits(backend, graph, w, x)
    monkeypatch.setattr(convert, "PROTOBUF_LIMIT", 1)
    model = backend.build(graph, w)
    got = backend.to_numpy(backend.eval_step(model)(backend.to_device(x)[0]))
    folder = Path(model.folder.name)
    assert (folder / "model.onnx.data").stat().st_size > (folder / "model.onnx").stat().st_size
    np.testing.assert_array_equal(got, expected)
    assert len(model.proto.graph.initializer[0].raw_data)  # the in-memory model keeps its weights


def test_lstm_gates_reordered_for_onnx():
    units = 2
    kernel = np.repeat(np.arange(4.0), units)[None].repeat(3, 0)  # column block g holds the value g
    onnx_w = _lstm_gates(kernel, units)  # (4U, F): row blocks in ONNX's order
    assert list(onnx_w[::units, 0]) == [float(g) for g in ONNX_GATES] == [0.0, 3.0, 1.0, 2.0]


def test_weights_round_trip_and_parameter_counts():
    graph = every_layer_graph()
    w = weights_with_statistics(graph)
    backend = OnnxRuntimeBackend()
    model = backend.build(graph, w)
    assert all(np.array_equal(w[k], v) for k, v in backend.export_weights(model).items())
    assert backend.count_params(model) == graph.count_params()


def test_training_is_refused_clearly():
    backend = OnnxRuntimeBackend()
    model = backend.build(lstm_graph(False), init_weights(lstm_graph(False), 0))
    with pytest.raises(ConfigError, match="inference-only backend; use --task inference"):
        backend.train_step(model, OptimizerSpec.create("sgd", 0.01), 0)


def test_gpu_without_cuda_provider_is_a_clear_error():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA provider present")
    with pytest.raises(ConfigError, match="CUDAExecutionProvider"):
        OnnxRuntimeBackend(device="gpu")


def test_registered_by_entry_point_without_importing_onnxruntime():
    code = ("import sys; from dlbench import registry; info = registry.get_backend('ort'); "
            "assert info.name == 'onnxruntime' and info.available, info; "
            "assert 'onnxruntime' not in sys.modules and 'onnx' not in sys.modules, 'imported at registration'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert registry.get_backend("onnxruntime").load() is OnnxRuntimeBackend


def test_inference_run_on_onnxruntime():
    config = RunConfig(backend="onnxruntime", model="lenet5", dataset="synthetic", task="inference", batch_size=8,
                       min_requests=10, min_duration=0.05)
    r = inference.run(config, lambda *a, **k: None)
    assert r.backend["name"] == "onnxruntime" and r.inference["requests"] >= 10
    assert r.inference["latency_s"]["p99"] >= r.inference["latency_s"]["p50"] > 0
    assert r.model["params_trainable"] == 61_706


def test_train_task_is_refused_before_any_worker_with_what_it_can_do(tmp_path):
    out = CliRunner().invoke(cli, ["run", "--task", "train", "-b", "onnxruntime", "-m", "perceptron", "-d", "synthetic",
                                   "--steps", "2", "--timeout", "300", "--output", str(tmp_path), "-q"])
    assert out.exit_code == 2
    assert "backend 'onnxruntime' does not train (it does: inference); use --task inference" in out.output
    assert not list(tmp_path.glob("*.json"))  # refused from what it declares: nothing ran, nothing to record


def test_cli_inference_run_of_a_language_model(tmp_path):
    """Token ids from the synthetic text through the worker: an ok record."""
    out = CliRunner().invoke(cli, ["run", "--task", "inference", "-b", "onnxruntime", "-m", "gpt_char",
                                   "-d", "synthetic", "--batch-size", "2", "--min-requests", "5",
                                   "--min-duration", "0.05", "--no-tune", "--timeout", "120",
                                   "--output", str(tmp_path), "--json", "-q"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.stdout)
    assert record["status"] == "ok" and record["backend"]["name"] == "onnxruntime"
    assert record["config"]["task"] == "inference" and record["inference"]["requests"] >= 5
    assert record["model"]["params_trainable"] == model_and_weights("gpt_char")[0].count_params()[0]
