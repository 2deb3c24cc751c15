"""Training memory: the resident memory a run adds beyond the framework's own footprint.

The baseline is the resident set once the framework is loaded and the model built; the peak is
the high-water mark *after* that, so ``training = peak - baseline`` is what training itself
(gradients, optimiser state, activations, compiled code, allocator caches) needed. On Linux the
kernel's high-water mark is reset by writing ``5`` to ``/proc/self/clear_refs`` and read back as
``VmHWM``; elsewhere a thread samples the resident set every 10 ms (which can miss a short spike).
Before the baseline is read, memory that earlier phases freed (tuning's candidate models) is handed
back to the system (``malloc_trim`` on glibc): held by the allocator, it would inflate the baseline
and be reused by training unseen, so training memory would come out too small.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
from pathlib import Path
from typing import Any

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")
SAMPLE_INTERVAL_S = 0.01


def _status_kib(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def current_rss_bytes() -> int | None:
    """Resident set size of this process now."""
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


def release_freed_memory() -> None:
    """Collect garbage and return the C heap's free pages to the system, where glibc allows it."""
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter to the current RSS (Linux >= 4.0); False where impossible."""
    if _status_kib("VmHWM") is None:
        return False
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class _Sampler(threading.Thread):
    """The portable fallback: the largest RSS seen by sampling."""

    def __init__(self, start_value: int):
        super().__init__(name="dlbench-rss-sampler", daemon=True)
        self.peak = start_value
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_INTERVAL_S):
            self.sample()

    def sample(self) -> int:
        self.peak = max(self.peak, current_rss_bytes() or 0)
        return self.peak


class MemoryTracker:
    """``start()`` after the model is built; ``first_step_done()`` after the first step; ``stop()``
    after training; then ``record()`` is the result's ``memory`` section.

    Also usable as a context manager around the training steps.
    """

    def __init__(self) -> None:
        self.baseline: int | None = None
        self.peak: int | None = None
        self.first_step: int | None = None
        self.method = "not measured"
        self.before: int | None = None
        self._sampler: _Sampler | None = None

    def start(self) -> "MemoryTracker":
        release_freed_memory()
        kib = _status_kib("VmHWM")
        self.before = kib * 1024 if kib is not None else None  # the peak since the process started, before the reset
        self.baseline = current_rss_bytes()
        if self.baseline is None:
            self.method = "resident memory is not readable on this platform"
        elif reset_high_water_mark():
            self.method = "VmHWM after /proc/self/clear_refs"
        else:
            self._sampler = _Sampler(self.baseline)
            self._sampler.start()
            self.method = f"sampled every {SAMPLE_INTERVAL_S * 1000:g} ms"
        return self

    def _peak_now(self) -> int | None:
        if self.baseline is None:
            return None
        if self._sampler is not None:
            return self._sampler.sample()
        kib = _status_kib("VmHWM")
        return kib * 1024 if kib is not None else None

    def first_step_done(self) -> None:
        """Remember the growth by the end of the first step (compilation, lazy allocations)."""
        if self.first_step is None and self.baseline is not None:
            peak = self._peak_now()
            self.first_step = None if peak is None else max(peak - self.baseline, 0)

    def stop(self) -> None:
        self.peak = self._peak_now()
        if self._sampler is not None:
            self._sampler.stopped.set()
            self._sampler.join(timeout=1)
            self._sampler = None

    def __enter__(self) -> "MemoryTracker":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def training(self) -> int | None:
        if self.peak is None or self.baseline is None:
            return None
        return max(self.peak - self.baseline, 0)

    def record(self, host_peak_rss_bytes: int | None, device_peak_bytes: int | None,
               device: str = "cpu") -> dict:
        """The ``memory`` section of a result record; resetting the kernel's counter also resets what
        ``getrusage`` reports, so the peak since the process started is the larger of the two."""
        peaks = [p for p in (host_peak_rss_bytes, self.before, self.peak) if p is not None]
        return {
            "host_peak_rss_bytes": max(peaks) if peaks else None,
            "device_peak_bytes": device_peak_bytes,
            "baseline_rss_bytes": self.baseline,
            "peak_rss_bytes": self.peak,
            "training_bytes": self.training,
            "first_step_bytes": self.first_step,
            "method": self.method,
            "device_process_bytes": nvml_process_bytes() if device == "gpu" else None,
        }


def nvml_process_bytes(pid: int | None = None) -> int | None:
    """Device memory NVML attributes to this process (driver, context and allocator cache
    included), or None where NVML (``pip install nvidia-ml-py``) is not available."""
    try:
        import pynvml
    except ImportError:
        return None
    pid = os.getpid() if pid is None else pid
    try:
        pynvml.nvmlInit()
        try:
            total = 0
            for i in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if proc.pid == pid and proc.usedGpuMemory is not None:
                        total += int(proc.usedGpuMemory)
            return total or None
        finally:
            pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        return None
