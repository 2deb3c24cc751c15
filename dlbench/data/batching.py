"""Shuffling and batching owned by the core, so every backend sees the same examples in the same order."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from dlbench.data.augment import Augment
from dlbench.data.dataset import Split
from dlbench.errors import ConfigError


def train_batches(
    split: Split, batch_size: int, seed: int, adapt: Callable[[np.ndarray], np.ndarray], augment: Augment = Augment()
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Endless (epoch, x, y) training batches: a fresh permutation each epoch from ``(seed, epoch)``,
    augmentation drawn from ``(seed, epoch, batch)``.

    The last incomplete batch of an epoch is dropped so that every step has the same shape
    (compiled steps would otherwise recompile).
    """
    n = len(split)
    if batch_size > n:
        raise ConfigError(f"batch size {batch_size} is larger than the {n} training examples")
    epoch = 0
    while True:
        order = np.random.default_rng([seed, epoch]).permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = np.sort(order[start : start + batch_size])  # sorted gathers are faster; order within a batch is irrelevant
            x = adapt(split.x[idx])
            if augment:
                x = augment(x, np.random.default_rng([seed, epoch, start]))
            yield epoch, x, split.y[idx].astype(np.int64)
        epoch += 1


def steps_per_epoch(n: int, batch_size: int) -> int:
    return n // batch_size


def eval_batches(
    split: Split, batch_size: int, adapt: Callable[[np.ndarray], np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(x, y, valid) in order; the last batch is zero-padded to ``batch_size`` (static shapes),
    and only its first ``valid`` rows count."""
    n = len(split)
    for start in range(0, n, batch_size):
        x, y = adapt(split.x[start : start + batch_size]), split.y[start : start + batch_size]
        valid = len(y)
        if valid < batch_size:
            x = np.concatenate([x, np.zeros((batch_size - valid, *x.shape[1:]), x.dtype)])
        yield x, y.astype(np.int64), valid


def shard(a: np.ndarray, index: int, count: int) -> np.ndarray:
    """Part ``index`` of ``count`` equal consecutive parts of a global batch: what one replica (or
    one process of a data-parallel run) computes on."""
    per = len(a) // count
    return a[index * per:(index + 1) * per]
