"""A run's achieved FLOP/s as a share of this machine's measured GEMM ceiling (and of the datasheet)."""

from __future__ import annotations

from dlbench import environment
from dlbench.calibration import datasheet
from dlbench.calibration.profile import entry_key, load_profile

NO_PROFILE = "no machine profile: run `dlbench calibrate` to measure this machine's ceiling"

#: the ceiling that matches the precision a run computed in (environment.precision)
CEILING_PRECISION = {"float32": "float32", "tf32": "tf32", "mixed-float16": "float16", "mixed_float16": "float16",
                     "mixed-bfloat16": "bfloat16", "mixed_bfloat16": "bfloat16", "float64": "float64"}


def utilisation(achieved: float | None, backend: str, device: str, precision: str | None,
                device_name: str | None, accelerator: dict | None = None) -> tuple[dict | None, str | None]:
    """(the record's ``flops.utilisation``, ``flops.utilisation_note``); ``accelerator`` picks the
    profile of this machine with that accelerator."""
    if not achieved:
        return None, "no achieved FLOP/s to compare (no analytic or framework FLOP count)"
    wanted = CEILING_PRECISION.get(precision or "float32", "float32")
    profile = load_profile(environment.machine_fingerprint(accelerator))
    if profile is None:
        return None, NO_PROFILE
    entries = profile.get("entries", {})
    entry = entries.get(entry_key(backend, device, wanted))
    source = f"{backend} {wanted} GEMM"
    if entry is None:  # another backend's GEMM on the same device and precision: the device's ceiling all the same
        others = [(k, e) for k, e in entries.items() if k.endswith(f"/{device}/{wanted}")]
        if not others:
            return None, (f"the machine profile has no {device} {wanted} ceiling: "
                          f"run `dlbench calibrate -b {backend} --device {device}`")
        key, entry = max(others, key=lambda ke: ke[1]["flops_per_s"])
        source = f"{key.split('/')[0]} {wanted} GEMM"
    ceiling = float(entry["flops_per_s"])
    sheet = datasheet.peak(device_name, wanted) if device == "gpu" else None
    note = None if sheet else ("no datasheet peak for this device" if device == "gpu" else "datasheet peaks are kept for GPUs only")
    return {
        "ceiling_flops_per_s": ceiling,
        "share": achieved / ceiling,
        "ceiling_source": f"{source} {entry['size']}x{entry['size']}, measured {entry['measured']} (`dlbench calibrate`)",
        "datasheet_flops_per_s": sheet[1] if sheet else None,
        "datasheet_share": achieved / sheet[1] if sheet else None,
    }, note
