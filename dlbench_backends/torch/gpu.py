"""The GPU PyTorch computes on: its identity, which keys tuning choices and calibration profiles, and
why torch sees none (``dlbench doctor``)."""

from __future__ import annotations

import torch

from dlbench import gpu_status


def runtime() -> str | None:
    """The CUDA or ROCm version this build of torch was made for; None for a CPU-only build."""
    if torch.version.cuda:
        return f"cuda {torch.version.cuda}"
    if torch.version.hip:
        return f"rocm {torch.version.hip}"
    return None


def accelerator() -> dict:
    return {"model": torch.cuda.get_device_name(), "count": torch.cuda.device_count(), "runtime": runtime()}


def status() -> tuple[bool, str]:
    if torch.cuda.is_available():
        return gpu_status.visible(accelerator())
    if runtime() is None:
        return gpu_status.not_visible(f"CPU-only build of torch ({torch.__version__}): {gpu_status.INSTALL}",
                                      gpu_status.missing_driver())
    return gpu_status.not_visible(gpu_status.unseen(f"torch built for {runtime()}", nvidia=not torch.version.hip))
