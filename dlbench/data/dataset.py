"""Datasets as numpy arrays plus metadata. Images are (N, H, W, C), labels int64 class indices."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"{len(self.x)} inputs but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Dataset:
    """``real`` is False for generated data: accuracy on it means nothing and is not reported.

    ``scale`` maps stored values to floats (uint8 images are kept as uint8 to save memory);
    ``mean``/``std`` (per channel, after scaling) standardise the inputs.
    """

    name: str
    train: Split
    test: Split | None
    num_classes: int
    real: bool
    source: str
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    #: ``"image"``: float images (N, H, W, C) and class labels; ``"tokens"``: int32 token ids (N, T)
    #: and the next token at every position (N, T)
    inputs: str = "image"
    vocabulary: str | None = None  # a character-level text's characters, in id order

    @property
    def input_shape(self) -> Shape:
        return tuple(self.train.x.shape[1:])


@dataclass(frozen=True)
class DatasetRequest:
    """What a dataset loader is told about the run: the model's shape and classes (for data that
    adapts to the model), where to look for files, and whether it may download them."""

    model_input_shape: Shape | None = None
    model_num_classes: int = 10
    model_inputs: str = "image"
    data_dir: Path | None = None
    download: bool = False
    seed: int = 0
    options: dict = field(default_factory=dict)
