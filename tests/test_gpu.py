"""GPU paths, run where a GPU is present and skipped with the reason elsewhere (``-m gpu`` selects them).

Whether a framework sees a GPU is asked in a separate process (JAX would otherwise take most of the
GPU's memory in the test process, which the workers then lack), and only where an NVIDIA device
node exists, so a CPU machine pays nothing. The errors for ``--device gpu`` without a GPU are
tested in tests/test_backend_contract.py.
"""

from __future__ import annotations

import functools
import glob
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from dlbench.cli import cli
from tests.conftest import has

PROBES = {
    "torch": "import torch; print(torch.cuda.is_available())",
    "jax": "import jax; print(jax.default_backend() == 'gpu')",
    "tensorflow": "import tensorflow as tf; print(bool(tf.config.list_physical_devices('GPU')))",
}
MODULES = {"torch": "torch", "jax": "flax", "tensorflow": "tensorflow"}


@functools.cache
def gpu_reason(framework: str) -> str | None:
    """None where ``framework`` sees a GPU; otherwise why not."""
    if not has(MODULES[framework]):
        return f"{framework} is not installed"
    if not glob.glob("/dev/nvidia[0-9]*"):
        return "no GPU on this machine (no /dev/nvidia* device)"
    probe = subprocess.run([sys.executable, "-c", PROBES[framework]], capture_output=True, text=True, timeout=300)
    if probe.stdout.strip() != "True":
        return f"{framework} sees no GPU here (a CPU-only build?)"
    return None


def needs_gpu(framework: str):
    reason = gpu_reason(framework)
    return [pytest.mark.gpu, pytest.mark.skipif(reason is not None, reason=reason or "")]


def run_on_gpu(tmp_path, backend: str) -> dict:
    out = CliRunner().invoke(cli, ["run", "-b", backend, "-m", "lenet5", "-d", "synthetic", "--device", "gpu",
                                   "--steps", "5", "--batch-size", "32", "--warmup", "2", "--no-tune", "--timeout",
                                   "600", "--output", str(tmp_path), "--json", "-q"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


@pytest.mark.parametrize("backend", [pytest.param(b, marks=needs_gpu(b)) for b in ("torch", "jax", "tensorflow")])
def test_device_gpu_through_the_cli(tmp_path, backend):
    r = run_on_gpu(tmp_path, backend)
    assert r["config"]["device"] == "gpu" and r["environment"]["device_name"]
    # device memory comes from the framework's allocator: LeNet-5's weights alone are 247 KB
    assert r["memory"]["device_peak_bytes"] >= 4 * 61_706
    assert r["timing"]["steps_timed"] == 5


def on_gpu(framework: str):
    """Decorator: the ``gpu`` marker, and a skip with the reason where ``framework`` has no GPU."""

    def decorate(f):
        for mark in needs_gpu(framework):
            f = mark(f)
        return f

    return decorate


@on_gpu("jax")
def test_jax_runs_on_the_gpu_platform(tmp_path):
    r = run_on_gpu(tmp_path, "jax")
    assert r["environment"]["jax_platform"] == "gpu"


@pytest.fixture
def torch_gpu():
    pytest.importorskip("torch")
    from dlbench_backends.torch.backend import TorchBackend

    return TorchBackend(device="gpu")


@on_gpu("torch")
def test_torch_places_model_and_batches_on_the_gpu(torch_gpu):
    from dlbench.graph import init_weights
    from dlbench.zoo import lenet5

    graph = lenet5.build(lenet5.INPUT_SHAPE, 10)
    model = torch_gpu.build(graph, init_weights(graph, 0))
    x, y = torch_gpu.to_device(np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int64))
    assert x.device.type == y.device.type == "cuda"
    assert {p.device.type for p in model.module.parameters()} == {"cuda"}


@on_gpu("torch")
def test_torch_sync_waits_for_the_gpu(torch_gpu):
    import torch

    a = torch.randn(4096, 4096, device="cuda")
    out = a
    for _ in range(20):
        out = out @ a  # queued asynchronously: the call returns before the GPU is done
    torch_gpu.sync(out)
    assert torch.cuda.current_stream().query()  # nothing left in flight after sync
    assert torch_gpu.peak_device_memory() >= 2 * 4096 * 4096 * 4


@pytest.mark.parametrize("backend", [pytest.param(b, marks=needs_gpu(b)) for b in ("torch", "jax", "tensorflow")])
def test_a_gpu_backend_names_its_accelerator(backend):
    # in a subprocess, as gpu_reason's probe: JAX would keep the GPU's memory from later workers
    probe = ("import json; from dlbench import registry; "
             f"print(json.dumps(registry.get_backend({backend!r}).load()(device='gpu').accelerator()))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    accelerator = json.loads(out.stdout.strip().splitlines()[-1])
    assert accelerator["model"] and accelerator["count"] >= 1 and accelerator["runtime"], accelerator
