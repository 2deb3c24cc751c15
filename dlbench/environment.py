"""The machine a run happened on (the framework adds its own versions and device)."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from importlib import metadata


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_fingerprint() -> str:
    """A short stable key of this machine's compute identity (CPU model, cores usable, OS and
    architecture): cached tuning choices and calibration profiles are valid only where it matches."""
    parts = [cpu_model(), str(os.cpu_count()),
             str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
             platform.system(), platform.machine()]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "dlbench": metadata.version("dlbench"),
        "numpy": metadata.version("numpy"),
        "argv": " ".join(sys.argv[1:]) or None,
        "thread_env": {k: v for k, v in os.environ.items() if k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS", "TF_NUM_INTRAOP_THREADS")},
    }
