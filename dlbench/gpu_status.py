"""Why a framework sees no GPU, in the words ``dlbench doctor`` prints: the parts every backend's
``gpu_status`` shares, read without a framework."""

from __future__ import annotations

import os
import shutil

from dlbench import environment

#: the one install that brings every framework's GPU build (pyproject.toml's ``gpu`` extra)
INSTALL = "install dlbench[gpu]"


def missing_driver() -> str | None:
    """"no NVIDIA driver" where none is loaded (neither its /proc file nor nvidia-smi); else None."""
    if environment.NVIDIA_DRIVER_FILE.exists() or shutil.which("nvidia-smi"):
        return None
    return f"no NVIDIA driver ({environment.NVIDIA_DRIVER_FILE} absent, no nvidia-smi)"


def unseen(build: str, nvidia: bool = True) -> str:
    """Why ``build`` (e.g. "torch built for cuda 13.0"), made for a GPU, sees none."""
    missing = missing_driver() if nvidia else None
    if missing:
        return f"{build} sees no GPU: {missing}"
    driver = environment.nvidia_driver()
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    why = (f"CUDA_VISIBLE_DEVICES={hidden!r} hides the GPUs" if hidden is not None
           else "a driver too old for that build, or no GPU passed to this container?")
    return f"{build} sees no GPU" + (f" with NVIDIA driver {driver}" if driver else "") + f": {why}"


def not_visible(*reasons: str | None) -> tuple[bool, str]:
    """``gpu_status``'s answer for a GPU the framework cannot see: every reason that applies."""
    return False, "; ".join(r for r in reasons if r)


def visible(accelerator: dict) -> tuple[bool, str]:
    """``gpu_status``'s answer for the GPUs a backend's ``accelerator()`` describes."""
    runtime = f" ({accelerator['runtime']})" if accelerator.get("runtime") else ""
    return True, f"{accelerator['count']} x {accelerator['model']}{runtime}"
