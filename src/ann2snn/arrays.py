"""Input data -> numpy: the one conversion every entry point uses.

Accepted everywhere: a :class:`~ann2snn.data.Dataset` (its images), a torch tensor on
any device, or anything ``np.asarray`` takes.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import ConversionError, SimulationError


def to_numpy(data, dtype=np.float32) -> np.ndarray:
    """``data`` as a numpy array of ``dtype`` (None: keep its dtype)."""
    if hasattr(data, "x") and hasattr(data, "y"):
        data = data.x
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    return np.asarray(data, dtype=dtype)


def samples(data, what: str, error: type[Exception] = ConversionError) -> np.ndarray:
    """Float32 samples ``(N, ...)``, checked: at least one, and all finite."""
    arr = to_numpy(data)
    if arr.ndim < 2 or len(arr) == 0:
        raise error(f"{what} must be an array of samples (N, ...), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise error(f"{what} contains NaN or Inf")
    return arr


def labelled_samples(data, labels, num_samples: int | None, input_shape: tuple
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(x float32, y int64) from a Dataset or an array and labels, checked: non-empty,
    as many labels as samples, finite (naming the first bad sample), the network's shape."""
    if hasattr(data, "x") and hasattr(data, "y"):
        data, labels = data.x, data.y
    elif labels is None:
        raise SimulationError("pass labels, or a Dataset that has them")
    x, y = to_numpy(data), to_numpy(labels, None).astype(np.int64)
    if num_samples is not None:
        x, y = x[:num_samples], y[:num_samples]
    if len(x) == 0:
        raise SimulationError("no samples to simulate")
    if len(x) != len(y):
        raise SimulationError(f"{len(x)} samples but {len(y)} labels")
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)).any(1))[0, 0])
        raise SimulationError(f"input sample {bad} contains NaN or Inf")
    if tuple(x.shape[1:]) != input_shape:
        raise SimulationError(f"data has shape {x.shape[1:]} per sample; the network "
                              f"expects {input_shape}")
    return x, y
