"""scikit-learn's bundled 8x8 digits: a real data set that needs no download.

It is small (1,797 images) and ships inside scikit-learn, so examples and tests can
train and convert a real network on any machine, offline. scikit-learn has no split,
so a fixed stratified 80/20 split is made here with a legacy ``RandomState(0)``, whose
stream numpy guarantees to stay the same across versions.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from ..errors import DatasetError
from .dataset import readonly

logger = logging.getLogger(__name__)

NUM_CLASSES = 10
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise DatasetError(
            "the digits data set needs scikit-learn: pip install scikit-learn"
        ) from exc
    bunch = load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / 16.0)[:, None, :, :]
    y = np.asarray(bunch.target, dtype=np.int64)
    return readonly(x), readonly(y)


@functools.lru_cache(maxsize=1)
def split_indices() -> dict[str, np.ndarray]:
    """Sorted sample indices of the ``train`` and ``test`` splits (disjoint, stratified)."""
    _, y = _load_all()
    rng = np.random.RandomState(SPLIT_SEED)
    test: list[np.ndarray] = []
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(y == c)
        perm = rng.permutation(members)
        test.append(perm[: round(TEST_FRACTION * len(members))])
    test_idx = np.sort(np.concatenate(test))
    train_mask = np.ones(len(y), dtype=bool)
    train_mask[test_idx] = False
    return {"train": readonly(np.flatnonzero(train_mask)), "test": readonly(test_idx)}


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 1, 8, 8)`` float32 in [0, 1] and int64 labels (fresh copies)."""
    x, y = _load_all()
    idx = split_indices()[split]
    return x[idx], y[idx]
