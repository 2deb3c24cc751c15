"""Adapting a dataset's images to the shape a model is declared for: resize and channels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlbench.errors import ConfigError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TokenIds:
    """The adapter of token data: ids pass as they are (int32), nothing to resize or normalise."""

    target: Shape
    dtype = np.int32

    @property
    def steps(self) -> list[str]:
        return []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.int32)


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of align-corners=False bilinear interpolation (as PIL/OpenCV)."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = pos - lo
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


@dataclass(frozen=True)
class Adapter:
    """Maps (N, h, w, c) batches to (N, H, W, C) float32; ``steps`` names what it does."""

    source: Shape
    target: Shape
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    dtype = np.float32

    def __post_init__(self):
        if len(self.source) != len(self.target):
            raise ConfigError(f"cannot adapt inputs of shape {self.source} to the model's {self.target}")
        if len(self.target) == 3 and (self.source[2], self.target[2]) not in {(1, 3), (3, 1)} and self.source[2] != self.target[2]:
            raise ConfigError(f"cannot map {self.source[2]} channels to the model's {self.target[2]}")
        if len(self.target) != 3 and self.source != self.target:
            raise ConfigError(f"cannot adapt inputs of shape {self.source} to the model's {self.target}")

    @property
    def steps(self) -> list[str]:
        out = []
        if len(self.target) == 3:
            (h, w, c), (H, W, C) = self.source, self.target
            if (h, w) != (H, W):
                out.append(f"resize {h}x{w}->{H}x{W} (bilinear)")
            if c != C:
                out.append(f"channels {c}->{C}")
        if any(self.mean) or any(s != 1.0 for s in self.std):
            out.insert(0, f"normalise mean {list(self.mean)} std {list(self.std)}")
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        if self.scale != 1.0:
            x *= self.scale
        if any(self.mean) or any(s != 1.0 for s in self.std):
            x -= np.asarray(self.mean, np.float32)
            x /= np.asarray(self.std, np.float32)
        if len(self.target) != 3:
            return x
        (h, w, c), (H, W, C) = self.source, self.target
        if (h, w) != (H, W):
            x = np.einsum("Yh,nhwc,Xw->nYXc", _bilinear_matrix(h, H), x, _bilinear_matrix(w, W), optimize=True)
        if c == 1 and C == 3:
            x = np.repeat(x, 3, axis=-1)
        elif c == 3 and C == 1:
            x = x @ np.array([[0.299], [0.587], [0.114]], np.float32)  # ITU-R 601 luma
        return np.ascontiguousarray(x, dtype=np.float32)
