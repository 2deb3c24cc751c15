"""The GPU PyTorch computes on: its identity, which keys tuning choices and calibration profiles."""

from __future__ import annotations

import torch


def runtime() -> str | None:
    """The CUDA or ROCm version this build of torch was made for; None for a CPU-only build."""
    if torch.version.cuda:
        return f"cuda {torch.version.cuda}"
    if torch.version.hip:
        return f"rocm {torch.version.hip}"
    return None


def accelerator() -> dict:
    return {"model": torch.cuda.get_device_name(), "count": torch.cuda.device_count(), "runtime": runtime()}
