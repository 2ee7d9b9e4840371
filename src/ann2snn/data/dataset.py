"""The :class:`Dataset` container and small helpers shared by every loader.

Loaders cache decoded arrays in-process; the helpers here make those cached arrays
read-only (so no caller can corrupt the cache) and build cache keys that change when a
file on disk changes (so a rewritten file is never served stale).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import DatasetError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled array data set, ready to feed a network.

    ``x`` is float32; image data is channels-first ``(N, C, H, W)`` with values in
    [0, 1] unless ``standardize=True`` was asked, in which case ``mean`` and ``std``
    hold the per-channel constants (computed on the train split) that were applied.
    ``y`` holds int64 labels ``(N,)``; ``-1`` marks an unknown label (npz calibration
    data has none). The arrays belong to the caller: loaders hand out fresh copies.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.y.ndim != 1:
            raise DatasetError(f"{self.name}: labels must be 1-d, got shape {self.y.shape}")
        if len(self.x) != len(self.y):
            raise DatasetError(f"{self.name}: {len(self.x)} samples but {len(self.y)} labels")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, n: int | None = None, indices=None) -> Dataset:
        """Return a new Dataset with the first ``n`` samples, or the given ``indices``.

        ``n`` larger than the data set is clipped (with a log message) so that a
        ``--num-samples`` bigger than a small test set still works. ``indices`` may be
        integers or a boolean mask. The arrays of the result are copies.
        """
        if n is not None and indices is not None:
            raise DatasetError("subset(): pass either n or indices, not both")
        if indices is not None:
            idx = np.asarray(indices)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise DatasetError(
                        f"subset(): boolean mask has shape {idx.shape}, expected ({len(self)},)"
                    )
                idx = np.flatnonzero(idx)
            elif idx.size and not np.issubdtype(idx.dtype, np.integer):
                raise DatasetError(f"subset(): indices must be integers, got {idx.dtype}")
            idx = idx.astype(np.int64).reshape(-1)
            if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
                raise DatasetError(
                    f"subset(): index out of range for {self.name} with {len(self)} samples"
                )
            return replace(self, x=self.x[idx], y=self.y[idx])
        if n is None:
            return replace(self, x=self.x.copy(), y=self.y.copy())
        n = int(n)
        if n < 0:
            raise DatasetError(f"subset(): n must be >= 0, got {n}")
        if n > len(self):
            logger.info(
                "%s has only %d samples; using all of them (asked for %d)", self.name, len(self), n
            )
        return replace(self, x=self.x[:n].copy(), y=self.y[:n].copy())


def readonly(a: np.ndarray) -> np.ndarray:
    """Mark ``a`` read-only and return it (for arrays kept in an in-process cache)."""
    a.flags.writeable = False
    return a


def file_key(path: Path) -> tuple[str, int, int]:
    """A cache key for ``path``: resolved name, mtime and size, so edits invalidate it."""
    p = Path(path).resolve()
    st = os.stat(p)
    return (str(p), st.st_mtime_ns, st.st_size)


def check_finite(a: np.ndarray, source: str | os.PathLike) -> None:
    """Raise :class:`DatasetError` naming ``source`` if ``a`` holds NaN or Inf."""
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating):
        bad = ~np.isfinite(a)
        if bad.any():
            raise DatasetError(
                f"{source}: contains {int(bad.sum())} NaN/Inf value(s); "
                "clean the data before converting or simulating"
            )


def check_labels(y: np.ndarray, num_classes: int, source: str | os.PathLike) -> None:
    """Raise :class:`DatasetError` if a label is negative or ``>= num_classes``."""
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise DatasetError(
            f"{source}: labels must lie in 0..{num_classes - 1}, "
            f"found {int(y.min())}..{int(y.max())}"
        )
