"""What only the PyTorch backend does: channels-last memory format, autocast, why it sees no GPU, and
how it builds transformers (scaled_dot_product_attention, one tied Parameter, integer token ids).
What every backend promises is checked in tests/test_backend_contract.py."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dlbench import registry  # noqa: E402
from dlbench.graph import (  # noqa: E402
    Activation, BatchNorm, Conv2d, Dense, Flatten, LayerNorm, MaxPool2d, init_weights, sequential,
)
from dlbench.measure.metrics import cross_entropy_sum  # noqa: E402
from dlbench.optim import OptimizerSpec  # noqa: E402
from dlbench.zoo import gpt  # noqa: E402
from dlbench_backends.torch.backend import TorchBackend  # noqa: E402
from tests import numpy_reference as reference  # noqa: E402
from tests.backend_cases import batch, tiny_gpt, with_random_statistics  # noqa: E402

pytestmark = pytest.mark.torch


def test_channels_last_computes_what_the_default_layout_does():
    graph = sequential("c", (6, 6, 2), [Conv2d(4, 3, padding=1), BatchNorm(), Activation("relu"), MaxPool2d(2),
                                        Flatten(), Dense(3)])
    weights = init_weights(graph, 0)
    x, y = np.random.default_rng(0).standard_normal((4, 6, 6, 2)).astype(np.float32), np.arange(4) % 3
    results = []
    for backend in (TorchBackend(), TorchBackend(options={"channels_last": True})):
        model = backend.build(graph, weights)
        xd, yd = backend.to_device(x, y)
        backend.train_step(model, OptimizerSpec.create("sgd"), 0)(xd, yd)
        results.append((xd, backend.to_numpy(backend.eval_step(model)(xd)), backend.export_weights(model)))
    (plain_x, plain_logits, plain_weights), (cl_x, cl_logits, cl_weights) = results
    assert cl_x.is_contiguous(memory_format=torch.channels_last) and not plain_x.is_contiguous(
        memory_format=torch.channels_last)
    np.testing.assert_allclose(cl_logits, plain_logits, rtol=1e-5, atol=1e-6)
    for k, v in plain_weights.items():
        np.testing.assert_allclose(cl_weights[k], v, rtol=1e-5, atol=1e-7, err_msg=k)


@pytest.mark.parametrize(("precision", "described"), [
    ("float32", {"tf32": False}),
    ("mixed-bfloat16", {"autocast": "bfloat16", "loss_scaling": None}),
    ("mixed-float16", {"autocast": "float16", "loss_scaling": "dynamic (torch.amp.GradScaler)"}),
])
def test_mixed_precision_is_autocast_with_a_scaler_for_float16(precision, described):
    env = TorchBackend(precision=precision).environment()
    assert {k: env[k] for k in described} == described and env["precision"] == precision


def test_a_cuda_build_without_a_driver_says_so(monkeypatch, tmp_path):
    from dlbench import environment

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(environment, "NVIDIA_DRIVER_FILE", tmp_path / "version")
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    visible, why = TorchBackend.gpu_status()
    assert not visible and "no NVIDIA driver" in why and "CPU-only" not in why, why
    (tmp_path / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 2025\n")
    visible, why = TorchBackend.gpu_status()
    assert not visible and "cuda 13.0" in why and "580.65.06" in why and "no NVIDIA driver" not in why, why


@pytest.mark.parametrize("layers", [
    [Conv2d(6, 3, padding=1), LayerNorm(), Flatten(), Dense(3)],
    [Dense(4), Activation("softmax"), Flatten(), Dense(3)],
], ids=["layer_norm_of_an_image", "softmax_of_a_sequence"])
def test_layers_over_the_last_axis_use_the_canonical_one(layers):
    """The channels of a channels-first image (dim 1), the features of a sequence (the last)."""
    graph = sequential("last_axis", (4, 5, 3) if isinstance(layers[0], Conv2d) else (5, 3), layers)
    weights = with_random_statistics(graph, 1)
    x, _ = batch(graph)
    backend = TorchBackend()
    got = backend.to_numpy(backend.eval_step(backend.build(graph, weights))(backend.to_device(x)[0]))
    np.testing.assert_allclose(got, reference.forward(graph, weights, x), rtol=1e-4, atol=1e-6)


# -- transformers ---------------------------------------------------------------------------------
def test_token_ids_stay_integers_and_labels_keep_a_position_axis():
    graph = tiny_gpt()
    x, y = batch(graph)
    for backend in (TorchBackend(), TorchBackend(dtype="float64")):
        xd, yd = backend.to_device(x, y)
        assert xd.dtype == torch.int32 and torch.equal(xd, torch.from_numpy(x))
        assert yd.dtype == torch.int64 and yd.shape == y.shape


def test_the_loss_of_a_language_model_is_the_mean_over_every_position():
    graph = tiny_gpt()
    weights = with_random_statistics(graph, 1)
    backend = TorchBackend()
    x, y = batch(graph)
    loss = backend.train_step(backend.build(graph, weights), OptimizerSpec.create("sgd"), 0)(*backend.to_device(x, y))
    expected = cross_entropy_sum(reference.forward(graph, weights, x), y) / y.size
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_the_tied_head_is_the_embeddings_parameter_and_its_gradient_sums_both_uses():
    graph = tiny_gpt()
    weights = {k: v.astype(np.float64) for k, v in with_random_statistics(graph, 1).items()}
    backend = TorchBackend(dtype="float64")
    x, y = backend.to_device(*batch(graph))

    def gradients(model):
        model.module.zero_grad()
        torch.nn.functional.cross_entropy(model.module(x).flatten(0, 1), y.flatten()).backward()
        return model.module.layers["wte"].weight.grad, model.module.layers["lm_head"].weight.grad

    tied = backend.build(graph, weights)
    embedding, head = tied.module.layers["wte"], tied.module.layers["lm_head"]
    assert head.weight is embedding.weight and embedding.weight.dtype == torch.float64
    assert sum(p is embedding.weight for p in tied.module.parameters()) == 1
    untied = backend.build(graph, weights)
    untied.module.layers["lm_head"].weight = torch.nn.Parameter(untied.module.layers["wte"].weight.detach().clone())
    as_input, as_head = gradients(untied)
    torch.testing.assert_close(gradients(tied)[0], as_input + as_head, rtol=1e-12, atol=1e-14)
    assert as_input.abs().sum() > 0 and as_head.abs().sum() > 0


def test_attention_is_scaled_dot_product_attention_causal_with_dropout_while_training(monkeypatch):
    graph = gpt.build_gpt("dropout_gpt", (6,), 11, context=8, width=16, depth=1, heads=2, gelu="gelu", dropout=0.25)
    backend = TorchBackend()
    model = backend.build(graph, init_weights(graph, 0))
    xd, yd = backend.to_device(*batch(graph))
    calls, sdpa = [], torch.nn.functional.scaled_dot_product_attention

    def recorded(q, k, v, **kwargs):
        calls.append((q.shape, kwargs))
        return sdpa(q, k, v, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recorded)
    backend.train_step(model, OptimizerSpec.create("sgd"), 0)(xd, yd)
    backend.eval_step(model)(xd)
    (train_shape, train), (eval_shape, evaluation) = calls
    assert train_shape == eval_shape == (3, 2, 6, 8)  # (N, H, T, hd)
    assert train == {"dropout_p": 0.25, "is_causal": True} and evaluation == {"dropout_p": 0.0, "is_causal": True}


def test_attention_runs_the_fused_cpu_kernel_and_the_flop_probe_counts_it():
    """Flash attention on the CPU, which torch.utils.flop_counter has no formula for: the probe adds one,
    so a step of gpt_char counts its 6 x MACs (a little more: the backward recomputes the scores)."""
    info = registry.get_model("gpt_char")
    graph = info.build(info.input_shape, info.num_classes)
    backend = TorchBackend()
    model = backend.build(graph, init_weights(graph, 0))
    xd, yd = backend.to_device(*batch(graph, 2))
    with torch.profiler.profile() as profiled:
        backend.eval_step(model)(xd)
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in {e.key for e in profiled.key_averages()}
    flops, method = backend.train_step_flops(model, OptimizerSpec.create("sgd"), xd, yd)
    assert 1.0 < flops / (6 * graph.macs() * 2) < 1.05 and "attention" in method


@pytest.mark.parametrize("precision", ["mixed-bfloat16", "mixed-float16"])
def test_a_transformer_trains_under_autocast(precision):
    graph = tiny_gpt()
    backend = TorchBackend(precision=precision)
    model = backend.build(graph, with_random_statistics(graph, 1))
    xd, yd = backend.to_device(*batch(graph))
    step = backend.train_step(model, OptimizerSpec.create("adam", lr=0.01), 0)
    losses = [float(step(xd, yd)) for _ in range(3)]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert backend.eval_step(model)(xd).dtype == torch.float32


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_torch_compile_computes_a_transformer_as_eager_does():
    graph = tiny_gpt()
    weights = with_random_statistics(graph, 1)
    x, y = batch(graph)
    results = []
    for backend in (TorchBackend(), TorchBackend(options={"compile": True})):
        model = backend.build(graph, weights)
        xd, yd = backend.to_device(x, y)
        loss = backend.train_step(model, OptimizerSpec.create("sgd"), 0)(xd, yd)
        results.append((float(loss), backend.to_numpy(backend.eval_step(model)(xd))))
    (eager_loss, eager_logits), (compiled_loss, compiled_logits) = results
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-5)
    np.testing.assert_allclose(compiled_logits, eager_logits, rtol=1e-4, atol=1e-5)
