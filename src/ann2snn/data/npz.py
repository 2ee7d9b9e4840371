"""The SNN Toolbox's npz layout: ``DIR/x_test.npz``, ``DIR/y_test.npz``, ``DIR/x_norm.npz``.

``x_test`` holds the test samples, ``y_test`` their labels (one-hot as the toolbox
writes them, or plain integers), and the optional ``x_norm`` the unlabelled samples
used to calibrate (normalise) the converted network. Files are read without pickle:
an npz holding object arrays is refused with a message saying how to re-save it.
"""

from __future__ import annotations

import functools
import logging
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .dataset import check_finite, file_key, readonly

logger = logging.getLogger(__name__)

X_TEST, Y_TEST, X_NORM = "x_test.npz", "y_test.npz", "x_norm.npz"


@functools.lru_cache(maxsize=16)
def _load_cached(key: tuple[str, int, int]) -> np.ndarray:
    path = Path(key[0])
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arr = _pick_array(loaded, path)
        else:  # an .npy file under an .npz name: accept it
            arr = loaded
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DatasetError(
                f"{path}: holds object arrays, which need pickle to load; ann2snn refuses "
                "pickle because loading it can run arbitrary code. Re-save the data as a "
                "plain numeric array: np.savez(path, np.asarray(arr, dtype=np.float32))"
            ) from exc
        raise DatasetError(f"{path}: not a valid npz file ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: not a valid npz file ({exc})") from exc
    arr = np.asarray(arr)
    if arr.dtype == object:
        raise DatasetError(f"{path}: holds an object array; re-save it with a numeric dtype")
    check_finite(arr, path)
    return readonly(arr)


def _pick_array(npz, path: Path) -> np.ndarray:
    """The only array in ``npz``, or the one named like the file (``x_test``)."""
    keys = list(npz.files)
    if len(keys) == 1:
        return npz[keys[0]]
    stem = path.name.removesuffix(".npz")
    if stem in keys:
        return npz[stem]
    raise DatasetError(
        f"{path}: holds {len(keys)} arrays ({', '.join(keys) or 'none'}); expected exactly "
        f"one, or one named '{stem}'"
    )


def load_array(path: Path) -> np.ndarray:
    """The array stored in the npz file ``path`` (cached, read-only)."""
    try:
        key = file_key(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    return _load_cached(key)


def to_channels_first(x: np.ndarray, channels_last: bool | None, source: Path) -> np.ndarray:
    """Return float32 ``x`` with 4-d image batches in ``(N, C, H, W)`` order (a copy).

    SNN Toolbox files come from Keras and are channels-last ``(N, H, W, C)``. With
    ``channels_last=None`` a heuristic decides: a 4-d array whose last axis is 1 or 3
    and whose second axis is not is taken as channels-last and transposed. Pass True or
    False to override it (e.g. for 3x3 images, where the heuristic cannot tell).
    """
    if x.ndim == 4:
        if channels_last is None:
            channels_last = x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3)
            if channels_last:
                logger.info(
                    "%s: shape %s looks channels-last; transposing to (N, C, H, W)", source, x.shape
                )
        if channels_last:
            x = x.transpose(0, 3, 1, 2)
    elif channels_last:
        raise DatasetError(f"{source}: channels_last=True needs 4-d data, got shape {x.shape}")
    return np.array(x, dtype=np.float32, order="C", copy=True)


def labels_from(y: np.ndarray, source: Path) -> tuple[np.ndarray, int]:
    """int64 labels and the class count from one-hot ``(N, K)`` or integer ``(N,)`` data."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if y.shape[1] < 2:
            raise DatasetError(
                f"{source}: one-hot labels need at least 2 columns, got shape {y.shape}"
            )
        return np.argmax(y, axis=1).astype(np.int64), int(y.shape[1])
    if y.ndim != 1:
        raise DatasetError(
            f"{source}: labels must be one-hot (N, K) or integers (N,), got shape {y.shape}"
        )
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and bool(np.all(y == np.round(y)))
    )
    if not integral:
        raise DatasetError(f"{source}: integer labels expected, got {y.dtype} values")
    labels = y.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise DatasetError(f"{source}: negative label {int(labels.min())}")
    return labels, int(labels.max()) + 1 if labels.size else 0


def _require_dir(directory: Path) -> None:
    if not directory.is_dir():
        raise DatasetError(
            f"npz data folder {directory} does not exist (spec npz:DIR expects "
            f"DIR to hold {X_TEST} and {Y_TEST})"
        )


def load_split(
    directory: Path, split: str, channels_last: bool | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(x, y, num_classes)`` of ``split``; the train split is ``x_norm`` with y = -1."""
    _require_dir(directory)
    if split == "train":
        norm = directory / X_NORM
        if not norm.is_file():
            raise DatasetError(
                f"{norm} is missing: npz:{directory} has no calibration (train) data. "
                f"Save some training samples there with np.savez('{norm}', x) "
                "(never use test images to calibrate)."
            )
        x = to_channels_first(load_array(norm), channels_last, norm)
        num_classes = 0
        y_path = directory / Y_TEST
        if y_path.is_file():
            num_classes = labels_from(load_array(y_path), y_path)[1]
        return x, np.full(len(x), -1, dtype=np.int64), num_classes
    x_path, y_path = directory / X_TEST, directory / Y_TEST
    missing = [p.name for p in (x_path, y_path) if not p.is_file()]
    if missing:
        present = sorted(p.name for p in directory.iterdir())
        raise DatasetError(
            f"npz:{directory}: missing {', '.join(missing)} (folder holds: "
            f"{', '.join(present) or 'nothing'}); expected the SNN Toolbox layout "
            f"{X_TEST}, {Y_TEST} and optionally {X_NORM}"
        )
    x = to_channels_first(load_array(x_path), channels_last, x_path)
    y, num_classes = labels_from(load_array(y_path), y_path)
    if len(x) != len(y):
        raise DatasetError(f"{x_path} has {len(x)} samples but {y_path} has {len(y)} labels")
    return x, y, num_classes
