"""ONNX Runtime's export path (``--serve export``): the ONNX model written to a file and served by a
session created from that file, as a deployment loads it. The eval step serves the same model from
memory; ONNX is already an exported format, so the two differ only in where the session reads it."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from dlbench_onnxruntime.backend import run
from dlbench_onnxruntime.convert import save

LABEL = "ONNX file"
DESCRIPTION = ("the ONNX model written to a .onnx file and served by an InferenceSession created from the file, "
               "with the run's session options")


def export(backend, model, x, folder: Path):
    path = save(model.proto, folder / "model.onnx")  # over 2 GB: the weights in model.onnx.data beside it
    session = ort.InferenceSession(str(path), backend.session_options(), providers=backend.providers)
    return lambda x: run(session, x)
