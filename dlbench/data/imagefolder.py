"""ImageNet-style folders: ``root/<class>/<image>``, or ``root/train/<class>/…`` and ``root/val/<class>/…``.

Images (JPEG, PNG, …) are decoded with Pillow lazily, batch by batch, resized to the model's
input size (``--data-dir`` names the root).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlbench.data.dataset import Dataset, DatasetRequest, Split
from dlbench.errors import DataError

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff"}
DEFAULT_SIZE = (64, 64)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the usual ImageNet statistics


class LazyImages:
    """Decodes the images at the requested indices, as uint8 (N, H, W, 3)."""

    def __init__(self, paths: list[Path], size: tuple[int, int]):
        self.paths, self.size = paths, size

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.paths), *self.size, 3)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> np.ndarray:
        from PIL import Image

        chosen = np.arange(len(self.paths))[index]
        out = np.empty((len(chosen), *self.size, 3), np.uint8)
        for row, i in enumerate(np.atleast_1d(chosen)):
            try:
                with Image.open(self.paths[i]) as img:
                    out[row] = np.asarray(img.convert("RGB").resize(self.size[::-1], Image.BILINEAR))
            except OSError as e:
                raise DataError(f"cannot decode image {self.paths[i]}: {e}") from None
        return out


def _scan(root: Path, classes: list[str] | None = None) -> tuple[list[Path], np.ndarray, list[str]]:
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    classes = classes or found
    if unknown := sorted(set(found) - set(classes)):
        raise DataError(f"{root} has class folders not in the training split: {', '.join(unknown)}")
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = root / name
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS) if folder.is_dir() else []
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(f"no images ({', '.join(sorted(EXTENSIONS))}) in class folders under {root}")
    return paths, np.array(labels, np.int64), classes


def load(request: DatasetRequest) -> Dataset:
    if request.data_dir is None or not Path(request.data_dir).is_dir():
        raise DataError("imagefolder needs --data-dir pointing at a folder of class folders "
                        "(root/<class>/*.jpg, or root/train/<class>/ and root/val/<class>/)")
    root = Path(request.data_dir)
    size = tuple(request.model_input_shape[:2]) if request.model_input_shape else DEFAULT_SIZE
    test_root = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_root is not None:
        paths, labels, classes = _scan(root / "train")
        test_paths, test_labels, _ = _scan(test_root, classes)
        train, test = Split(LazyImages(paths, size), labels), Split(LazyImages(test_paths, size), test_labels)
    else:  # one folder: a fixed 80/20 split, the same whatever the run's seed
        paths, labels, classes = _scan(root)
        order = np.random.default_rng(0).permutation(len(paths))
        cut = int(0.8 * len(order))
        pick = lambda idx: Split(LazyImages([paths[i] for i in idx], size), labels[idx])  # noqa: E731
        train, test = pick(order[:cut]), pick(order[cut:])
    return Dataset("imagefolder", train, test, len(classes), real=True, source=str(root), scale=1 / 255,
                   mean=IMAGENET_MEAN, std=IMAGENET_STD)
