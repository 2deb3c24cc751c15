"""PyTorch's dense matmul, timed by ``dlbench calibrate`` for the machine's FLOP/s ceiling."""

from __future__ import annotations

from typing import Callable

import torch

from dlbench.errors import ConfigError
from dlbench.precision import gpu_gemm_precisions

DTYPES = {"float32": torch.float32, "tf32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def precisions(backend) -> tuple[str, ...]:
    if backend.device == "gpu":
        return gpu_gemm_precisions(torch.cuda.get_device_capability()[0])
    return ("float32",) + (("bfloat16",) if cpu_flags() & {"avx512_bf16", "amx_bf16"} else ())


def gemm(backend, precision: str, n: int) -> Callable[[], None]:
    if precision not in DTYPES:
        raise ConfigError(f"torch: no GEMM in {precision!r}; choose one of: {', '.join(DTYPES)}")
    where, on_gpu = backend.torch_device, backend.device == "gpu"
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(where, DTYPES[precision])
    b = torch.randn(n, n, generator=gen).to(where, DTYPES[precision])
    out = torch.empty_like(a)
    tf32 = precision == "tf32"

    def run() -> None:
        if on_gpu:
            previous = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.matmul(a, b, out=out)
            torch.cuda.synchronize()
            torch.backends.cuda.matmul.allow_tf32 = previous
        else:
            torch.matmul(a, b, out=out)

    return run
