"""What serves an inference run's requests (``--serve``): the backend's eval step, or the model
exported the way the framework deploys it (``Backend.export``: torch AOTInductor, a TensorFlow
SavedModel, ``jax.export``, an ONNX file), written to a folder and loaded back. The two are
different deployment paths: the record says which (``inference.path``, ``inference.deployment``)
and the report never puts them in one row."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from dlbench.tuning.candidates import Served

STEP_LABEL = "eval step"
STEP_WHAT = ("the backend's eval step in inference mode at the run's settings (torch inference_mode, eager or "
             "torch.compile; a TensorFlow tf.function, XLA or not; jax.jit; an ONNX Runtime session)")


def served(path: str, seconds: float, folder: Path, backend: Any) -> Served:
    """What the tuner's candidates and the timed run serve with; each export gets a folder of its
    own under ``folder``. A backend without an export path is refused here, before any tuning."""
    if path == "step":
        return Served(path, lambda p, x: p.backend.eval_step(p.model), seconds)
    backend.deployment()
    return Served(path, lambda p, x: p.backend.export(p.model, x, Path(tempfile.mkdtemp(dir=folder))), seconds)


def deploy(prepared: Any, how: Served, x: Any, progress: Callable[..., None]) -> tuple[Callable[[Any], Any], dict]:
    """(the callable serving requests shaped as ``x``, the record's ``inference.deployment``); an
    export is timed (``export_s``: export, compile, write and load)."""
    if how.path != "step":
        progress("phase", name="exporting")
    start = time.perf_counter()
    call = how.make(prepared, x)
    if how.path == "step":
        return call, {"label": STEP_LABEL, "what": STEP_WHAT, "export_s": None}
    label, what = prepared.backend.deployment()
    return call, {"label": label, "what": what, "export_s": time.perf_counter() - start}
