"""The machine a run happened on (the framework adds its own versions and device)."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

NVIDIA_DRIVER_FILE = Path("/proc/driver/nvidia/version")


def usable_cores() -> int:
    """The cores this process may run on (its affinity: taskset, cgroups), else all of them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_driver() -> str | None:
    """The loaded NVIDIA kernel driver's version, read without a framework; None where there is none."""
    try:
        text = NVIDIA_DRIVER_FILE.read_text()
    except OSError:
        return None
    found = re.search(r"Kernel Module.*?\s(\d+\.\d+(?:\.\d+)*)\s", text)
    if found:
        return found.group(1)
    return text.strip().split("\n", 1)[0] or None  # an unfamiliar format still tells drivers apart


def machine_fingerprint(accelerator: dict | None = None) -> str:
    """A short stable key of this machine's compute identity (CPU model, cores usable, OS and
    architecture, and for a run on an accelerator its model, count and the NVIDIA driver): cached
    tuning choices and calibration profiles are valid only where it matches.

    ``accelerator`` is :meth:`dlbench.backend.Backend.accelerator`'s answer. Its ``runtime`` (the CUDA
    or ROCm version a framework was built with) is left out: it differs between frameworks on one
    machine, whose ceilings share a profile; the tuning key holds it."""
    parts = [cpu_model(), str(os.cpu_count()), str(usable_cores()), platform.system(), platform.machine()]
    if accelerator is not None:
        parts += [str(accelerator.get("model")), str(accelerator.get("count")), str(nvidia_driver())]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "dlbench": metadata.version("dlbench"),
        "numpy": metadata.version("numpy"),
        "argv": " ".join(sys.argv[1:]) or None,
        "thread_env": {k: v for k, v in os.environ.items() if k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS", "TF_NUM_INTRAOP_THREADS")},
    }
