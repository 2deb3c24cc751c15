"""The numerics ``--precision`` names, what devices can compute them in, and the refusal a backend
gives where its device cannot: written once, for every backend."""

from __future__ import annotations

from typing import NoReturn

from dlbench.errors import ConfigError

#: float32 everywhere; tf32 lets NVIDIA tensor cores round matmul inputs to 10 mantissa bits;
#: mixed-* keep float32 variables and loss and compute in the lower precision.
PRECISIONS = ("float32", "tf32", "mixed-float16", "mixed-bfloat16")

TF32_NEEDS = "tf32 needs an NVIDIA GPU (Ampere or newer)"
#: what a precision needs beyond the framework (said when a device cannot honour it)
NEEDS = {"tf32": TF32_NEEDS}

#: what the built-in frameworks honour per device: mixed precision on both (XLA:CPU, Keras and
#: autocast all compile float16 and bfloat16 on the CPU); TF32 is an NVIDIA tensor-core format
FRAMEWORK_PRECISIONS = {"cpu": ("float32", "mixed-float16", "mixed-bfloat16"),
                        "gpu": ("float32", "tf32", "mixed-float16", "mixed-bfloat16")}

#: the precision that needs dynamic loss scaling: float16's 5 exponent bits flush small gradients to
#: zero, while bfloat16 has float32's exponent range
LOSS_SCALED = "mixed-float16"

#: the first NVIDIA compute capability (major) with TF32 and bfloat16 tensor cores: Ampere
AMPERE = 8


def refuse_tf32(backend: str, device: str, capability: str) -> NoReturn:
    """Refuse tf32 on a GPU older than Ampere: ``device`` is its name, ``capability`` as the
    framework reports it (``sm_75``, ``compute capability 7.5``)."""
    accepted = ", ".join(p for p in FRAMEWORK_PRECISIONS["gpu"] if p != "tf32")
    raise ConfigError(f"{backend}: cannot compute in tf32 on {device} ({capability}): {TF32_NEEDS}; "
                      f"accepted: {accepted}")


def gpu_gemm_precisions(major: int) -> tuple[str, ...]:
    """The matmul formats ``dlbench calibrate`` times on an NVIDIA GPU of compute capability ``major``."""
    return ("float32", "float16") + (("tf32", "bfloat16") if major >= AMPERE else ())
