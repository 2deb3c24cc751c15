"""What only the PyTorch backend does: channels-last memory format, autocast, and why it sees no GPU.
What every backend promises is checked in tests/test_backend_contract.py."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dlbench.graph import (  # noqa: E402
    Activation, BatchNorm, Conv2d, Dense, Flatten, MaxPool2d, init_weights, sequential,
)
from dlbench.optim import OptimizerSpec  # noqa: E402
from dlbench_backends.torch.backend import TorchBackend  # noqa: E402

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
