"""``--precision`` in PyTorch: ``torch.autocast`` for mixed precision (with a ``GradScaler`` for
float16), the TF32 switches for tf32. Parameters, optimiser state and the loss stay float32."""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, ContextManager

import torch

from dlbench.precision import AMPERE, LOSS_SCALED, refuse_tf32

AUTOCAST = {"mixed-float16": torch.float16, "mixed-bfloat16": torch.bfloat16}


def configure(backend) -> None:
    """On a GPU, TF32 on for tf32 and explicitly off otherwise (cuDNN convolutions default to TF32,
    so float32 would not be float32); refuses tf32 on a GPU older than Ampere."""
    if backend.device != "gpu":
        return
    precision = backend.precision
    major, minor = torch.cuda.get_device_capability()
    if precision == "tf32" and major < AMPERE:
        refuse_tf32("torch", torch.cuda.get_device_name(), f"sm_{major}{minor}")
    # the legacy flags, as dlbench calibrate sets them: torch refuses a mix of them and the newer
    # fp32_precision API in one process, and in 2.13 reading them back after the new API raises
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"


def autocast(device_type: str, precision: str) -> Callable[[], ContextManager]:
    """A context-manager factory: autocast to the precision's compute dtype, or nothing."""
    dtype = AUTOCAST.get(precision)
    return contextlib.nullcontext if dtype is None else functools.partial(torch.autocast, device_type, dtype=dtype)


def grad_scaler(device_type: str, precision: str) -> torch.amp.GradScaler | None:
    """Dynamic loss scaling where the precision needs it (float16)."""
    return torch.amp.GradScaler(device_type) if precision == LOSS_SCALED else None


def describe(backend) -> dict:
    """How the precision is implemented, for the record's environment."""
    precision = backend.precision
    if precision in AUTOCAST:
        return {"autocast": str(AUTOCAST[precision]).removeprefix("torch."),
                "loss_scaling": "dynamic (torch.amp.GradScaler)" if precision == LOSS_SCALED else None}
    return {"tf32": precision == "tf32"}
