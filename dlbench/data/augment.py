"""Training-time augmentation in the core, seeded, so every backend trains on the same augmented batches.

Spelled as in ``--augment crop4,flip``: ``cropP`` pads each image by P pixels (zeros) and crops
it back at a random offset; ``flip`` mirrors half the images left-right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from dlbench.errors import ConfigError

ACCEPTED = "'none', or a comma-separated list of 'cropP' (P pixels of padding) and 'flip', e.g. 'crop4,flip'"


@dataclass(frozen=True)
class Augment:
    crop_padding: int = 0
    flip: bool = False

    @classmethod
    def parse(cls, spec: str) -> "Augment":
        if spec in ("", "none"):
            return cls()
        crop, flip = 0, False
        for part in spec.split(","):
            if part == "flip":
                flip = True
            elif m := re.fullmatch(r"crop(\d+)", part):
                crop = int(m.group(1))
            else:
                raise ConfigError(f"unknown augmentation {part!r}; accepted: {ACCEPTED}")
        return cls(crop, flip)

    def __bool__(self) -> bool:
        return bool(self.crop_padding or self.flip)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if x.ndim != 4:
            raise ConfigError("augmentation needs image batches (N, H, W, C)")
        n, h, w, _ = x.shape
        if self.crop_padding:
            p = self.crop_padding
            padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
            dy, dx = rng.integers(0, 2 * p + 1, n), rng.integers(0, 2 * p + 1, n)
            x = np.stack([padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
        if self.flip:
            mirror = rng.random(n) < 0.5
            x = x.copy() if not self.crop_padding else x
            x[mirror] = x[mirror, :, ::-1]
        return x
