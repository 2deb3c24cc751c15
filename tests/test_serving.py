"""``--serve export``: each backend's export path (``Backend.export``, its ``serving`` module) computes
the eval step's logits, to float32 round-off, and an inference run through it says so in its record."""

from __future__ import annotations

import numpy as np
import pytest

from dlbench.config import RunConfig
from dlbench.errors import ConfigError
from dlbench.measure import inference
from tests.backend_cases import batch, model_and_weights
from tests.test_backend_contract import VARIANTS, backend_class
from tests.test_tuning import tunable  # noqa: F401 (a fixture)

#: variant -> (backend, options, marks): the contract test's, and torch in channels-last
EXPORTED = {**{v: VARIANTS[v] for v in ("torch", "tensorflow", "tensorflow-noxla", "jax", "onnxruntime")},
            "torch-channels-last": ("torch", {"channels_last": True}, pytest.mark.torch)}
LABELS = {"torch": "AOTInductor", "tensorflow": "SavedModel", "jax": "jax.export", "onnxruntime": "ONNX file"}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("model", ["mlp", "lenet5"])
@pytest.mark.parametrize("variant", [pytest.param(v, marks=marks, id=v) for v, (_, _, marks) in EXPORTED.items()])
def test_the_export_computes_the_eval_steps_logits(variant, model, tmp_path):
    name, options, _ = EXPORTED[variant]
    backend = backend_class(name)(options=options)
    graph, weights = model_and_weights(model)
    built = backend.build(graph, weights)
    x = backend.to_device(batch(graph, n=4)[0])[0]
    expected = backend.to_numpy(backend.eval_step(built)(x))
    served = backend.export(built, x, tmp_path)
    assert any(tmp_path.iterdir())  # written to the folder, and loaded back from it
    np.testing.assert_allclose(backend.to_numpy(served(x)), expected, rtol=1e-5, atol=1e-5)
    assert backend.deployment()[0] == LABELS[name]


def test_serve_export_needs_the_inference_task():
    with pytest.raises(ConfigError, match="needs --task inference"):
        RunConfig(serve="export")
    with pytest.raises(ConfigError, match="unknown serve"):
        RunConfig(task="inference", serve="torchscript")


def test_an_export_path_missing_is_refused_before_tuning(tunable, monkeypatch):
    monkeypatch.setattr(tunable, "serving", None)
    with pytest.raises(ConfigError, match="has no export path"):
        inference.run(RunConfig(backend="tunable", model="tiny", dataset="synthetic", task="inference", batch_size=2,
                                min_requests=2, min_duration=0.0, serve="export", tune=True), lambda *a, **k: None)
    assert tunable.calls == 0
