"""The small built-in datasets: seeded synthetic data, and scikit-learn's bundled 8x8 digits."""

from __future__ import annotations

import numpy as np

from dlbench.data.dataset import Dataset, DatasetRequest, Split

SYNTHETIC_SHAPE = (28, 28, 1)
SYNTHETIC_BYTES = 256 * 2**20  # bounds memory for large inputs (AlexNet: 445 images)


def synthetic(request: DatasetRequest) -> Dataset:
    """Random inputs and labels in the model's own shape and class count; for speed runs only."""
    shape = request.model_input_shape or SYNTHETIC_SHAPE
    per_example = 4 * int(np.prod(shape))
    n = int(request.options.get("size") or min(4096, max(64, SYNTHETIC_BYTES // per_example)))
    rng = np.random.default_rng([request.seed, 0x5EED])
    classes = request.model_num_classes
    if request.model_inputs == "tokens":  # token ids, and a next token at every position
        x = rng.integers(0, classes, (n, *shape), dtype=np.int32)
        return Dataset("synthetic", Split(x, rng.integers(0, classes, (n, *shape), dtype=np.int32)), None, classes,
                       real=False, source="generated", inputs="tokens")
    x = rng.standard_normal((n, *shape), dtype=np.float32)
    y = rng.integers(0, classes, n, dtype=np.int64)
    return Dataset("synthetic", Split(x, y), None, classes, real=False, source="generated")


def digits(request: DatasetRequest) -> Dataset:
    """scikit-learn's copy of the UCI handwritten digits: 1,797 real 8x8 images, 10 classes.

    A fixed split (seed 0, independent of the run seed): 1,437 for training, 360 for testing.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[:1437], order[1437:]
    return Dataset("digits", Split(x[train], y[train]), Split(x[test], y[test]), 10, real=True, source="scikit-learn")
