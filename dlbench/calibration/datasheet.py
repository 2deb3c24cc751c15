"""Nominal dense peak FLOP/s of known GPUs from their vendors' datasheets (no structured sparsity),
per precision; a run's share of it shows how far the framework is from the hardware's promise.

Maintained by hand: add a row when a new device is measured. Values in TFLOP/s.
"""

from __future__ import annotations

import re

#: (pattern matched against the framework's device name, label, {precision: TFLOP/s}); first match wins
GPUS: tuple[tuple[str, str, dict[str, float]], ...] = (
    (r"H100.*PCIe", "H100 PCIe", {"float32": 51.2, "tf32": 378.0, "bfloat16": 756.0, "float16": 756.0}),
    (r"H100.*NVL", "H100 NVL", {"float32": 60.0, "tf32": 417.5, "bfloat16": 835.5, "float16": 835.5}),
    (r"H100", "H100 SXM", {"float32": 66.9, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4}),
    (r"H200.*NVL", "H200 NVL", {"float32": 60.0, "tf32": 417.5, "bfloat16": 835.5, "float16": 835.5}),
    (r"H200", "H200 SXM", {"float32": 66.9, "tf32": 494.7, "bfloat16": 989.4, "float16": 989.4}),
    (r"A100", "A100", {"float32": 19.5, "tf32": 156.0, "bfloat16": 312.0, "float16": 312.0}),
    (r"L40S", "L40S", {"float32": 91.6, "tf32": 183.0, "bfloat16": 362.1, "float16": 362.1}),
    (r"\bL4\b", "L4", {"float32": 30.3, "tf32": 60.0, "bfloat16": 121.0, "float16": 121.0}),
    (r"\bA10\b", "A10", {"float32": 31.2, "tf32": 62.5, "bfloat16": 125.0, "float16": 125.0}),
    (r"V100.*PCI", "V100 PCIe", {"float32": 14.0, "float16": 112.0}),
    (r"V100", "V100 SXM2", {"float32": 15.7, "float16": 125.0}),
    (r"\bT4\b", "T4", {"float32": 8.1, "float16": 65.0}),
)


def lookup(device_name: str | None) -> tuple[str, dict[str, float]] | None:
    """(label, {precision: FLOP/s}) for a known GPU name such as "NVIDIA H100 80GB HBM3", else None."""
    if not device_name:
        return None
    for pattern, label, peaks in GPUS:
        if re.search(pattern, device_name, re.IGNORECASE):
            return label, {p: tflops * 1e12 for p, tflops in peaks.items()}
    return None


def peak(device_name: str | None, precision: str) -> tuple[str, float] | None:
    """(label, nominal FLOP/s) of ``device_name`` in ``precision``, where the table knows both."""
    found = lookup(device_name)
    if found is None or precision not in found[1]:
        return None
    return found[0], found[1][precision]
