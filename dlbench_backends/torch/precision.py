"""``--precision`` in PyTorch: ``torch.autocast`` for mixed precision (with a ``GradScaler`` for
float16), the TF32 switches for tf32. Parameters, optimiser state and the loss stay float32."""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, ContextManager

import torch

from dlbench.errors import ConfigError

#: autocast runs on the CPU in float16 as well as bfloat16; TF32 is an NVIDIA tensor-core format
PRECISIONS = {"cpu": ("float32", "mixed-float16", "mixed-bfloat16"),
              "gpu": ("float32", "tf32", "mixed-float16", "mixed-bfloat16")}
AUTOCAST = {"mixed-float16": torch.float16, "mixed-bfloat16": torch.bfloat16}


def configure_gpu(precision: str) -> None:
    """TF32 on for tf32 and explicitly off otherwise (cuDNN convolutions default to TF32, so
    float32 would not be float32); refuses tf32 on a GPU older than Ampere."""
    major, minor = torch.cuda.get_device_capability()
    if precision == "tf32" and major < 8:
        raise ConfigError(f"torch: cannot compute in tf32 on {torch.cuda.get_device_name()} (sm_{major}{minor}): "
                          "tf32 needs an NVIDIA GPU (Ampere or newer); accepted: float32, mixed-float16, mixed-bfloat16")
    # the legacy flags, as dlbench calibrate sets them: torch refuses a mix of them and the newer
    # fp32_precision API in one process, and in 2.13 reading them back after the new API raises
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"


def autocast(device_type: str, precision: str) -> Callable[[], ContextManager]:
    """A context-manager factory: autocast to the precision's compute dtype, or nothing."""
    dtype = AUTOCAST.get(precision)
    return contextlib.nullcontext if dtype is None else functools.partial(torch.autocast, device_type, dtype=dtype)


def grad_scaler(device_type: str, precision: str) -> torch.amp.GradScaler | None:
    """Dynamic loss scaling for float16, whose 5 exponent bits flush small gradients to zero;
    bfloat16 has float32's exponent range and needs none."""
    return torch.amp.GradScaler(device_type) if precision == "mixed-float16" else None


def describe(precision: str) -> dict:
    """How the precision is implemented, for the record's environment."""
    if precision in AUTOCAST:
        return {"autocast": str(AUTOCAST[precision]).removeprefix("torch."),
                "loss_scaling": "dynamic (torch.amp.GradScaler)" if precision == "mixed-float16" else None}
    return {"tf32": precision == "tf32"}
