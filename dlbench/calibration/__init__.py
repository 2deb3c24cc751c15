"""Utilisation against a measured ceiling: ``dlbench calibrate`` times each backend's dense matmul
(GEMM) on the device and stores the peak FLOP/s as a machine profile; runs then record their
achieved FLOP/s as a share of it (and, on known GPUs, of the datasheet peak)."""

from dlbench.calibration.profile import load_profile, profile_path, save_entries
from dlbench.calibration.utilisation import utilisation

__all__ = ["load_profile", "profile_path", "save_entries", "utilisation"]
