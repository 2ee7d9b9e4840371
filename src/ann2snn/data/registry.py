"""Turning a data set spec (``mnist``, ``npz:DIR``...) into a :class:`Dataset`.

This is the one entry point the CLI and the library use, so that every command reads
data the same way: same search order, same preprocessing, same standardisation
constants (always computed on the train split, never on the data being evaluated).
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from . import digits, images, mnist, npz
from .dataset import Dataset

logger = logging.getLogger(__name__)

BUILTIN = ("digits", "mnist", "fashion-mnist")
PREFIXES = ("npz", "images")
ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
}
SPLITS = ("train", "test")


def dataset_names() -> list[str]:
    """The accepted spec forms, for ``--help`` texts and error messages."""
    return [*BUILTIN, *(f"{p}:DIR" for p in PREFIXES)]


@dataclass(frozen=True)
class Spec:
    """A parsed spec: ``kind`` is a built-in name or a prefix; ``path`` its folder."""

    kind: str
    path: Path | None = None

    @property
    def label(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def _unknown(spec: str) -> DatasetError:
    msg = f"unknown data set '{spec}'. Valid: {', '.join(dataset_names())}."
    kind, sep, rest = spec.partition(":")
    if sep:
        close = difflib.get_close_matches(kind.lower(), PREFIXES, n=1)
        if close:
            msg += f" Did you mean '{close[0]}:{rest}'?"
    else:
        close = difflib.get_close_matches(spec.lower(), [*BUILTIN, *ALIASES], n=1, cutoff=0.5)
        if close:
            msg += f" Did you mean '{ALIASES.get(close[0], close[0])}'?"
        elif spec and os.path.isdir(os.path.expanduser(spec)):
            prefix = "npz" if os.path.isfile(os.path.join(spec, npz.X_TEST)) else "images"
            msg += f" '{spec}' is a folder: did you mean '{prefix}:{spec}'?"
    return DatasetError(msg)


def parse_spec(spec: str) -> Spec:
    """Parse ``spec``; raise :class:`DatasetError` (with a suggestion) if unknown."""
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"no data set given. Valid: {', '.join(dataset_names())}")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if sep and kind.lower() in PREFIXES:
        if not rest.strip():
            raise DatasetError(f"'{spec}': give a folder after the colon, e.g. {kind}:DIR")
        return Spec(kind.lower(), Path(rest.strip()).expanduser())
    name = ALIASES.get(spec.lower(), spec.lower())
    if not sep and name in BUILTIN:
        return Spec(name)
    raise _unknown(spec)


def _load_raw(
    spec: Spec, split: str, data_dir, download: bool, channels_last: bool | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """``(x, y, num_classes)`` of one split, unstandardised, as fresh arrays."""
    if spec.kind == "digits":
        x, y = digits.load_split(split)
        return x, y, digits.NUM_CLASSES
    if spec.kind in mnist.MIRRORS:
        x, y = mnist.load_split(spec.kind, split, data_dir, download)
        return x, y, mnist.NUM_CLASSES
    if data_dir is not None:
        logger.debug("data_dir is ignored for %s (the folder is part of the spec)", spec.label)
    assert spec.path is not None
    if spec.kind == "npz":
        return npz.load_split(spec.path, split, channels_last)
    return images.load_split(spec.path, split)


def _stats_axes(x: np.ndarray) -> tuple[int, ...]:
    """Axes averaged over: all but the channel axis 1 (all axes for flat data)."""
    return tuple(i for i in range(x.ndim) if i != 1) if x.ndim >= 3 else tuple(range(x.ndim))


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (float32, shape ``(C,)``; ``(1,)`` for flat data)."""
    axes = _stats_axes(x)
    mean = np.atleast_1d(x.mean(axis=axes, dtype=np.float64))
    std = np.atleast_1d(x.std(axis=axes, dtype=np.float64))
    if np.any(std == 0):
        logger.warning("a channel is constant on the train split; its std is taken as 1")
        std = np.where(std == 0, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def apply_stats(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` per channel, in place on ``x`` (a fresh array), returned."""
    if x.ndim >= 3:
        if x.shape[1] != mean.shape[0]:
            raise DatasetError(
                f"data has {x.shape[1]} channels but the train split has "
                f"{mean.shape[0]}; cannot standardise"
            )
        shape = (1, -1) + (1,) * (x.ndim - 2)
        m, s = mean.reshape(shape), std.reshape(shape)
    else:
        m, s = mean[0], std[0]
    x -= m
    x /= s
    return x


def load_dataset(
    spec: str,
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    standardize: bool = False,
    download: bool = True,
    channels_last: bool | None = None,
) -> Dataset:
    """Load one split of the data set named by ``spec``.

    ``spec`` is one of :func:`dataset_names`. ``data_dir`` is searched first for
    mnist/fashion-mnist (see docs/datasets.md for the full search order); ``download``
    allows fetching them into the user cache when not found. ``standardize`` subtracts
    the per-channel mean and divides by the std of the train split, so test and
    calibration data get identical constants (stored on the result). ``channels_last``
    applies to npz data only (None: guess, see :func:`npz.to_channels_first`).
    """
    parsed = parse_spec(spec)
    if split not in SPLITS:
        raise DatasetError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
    x, y, num_classes = _load_raw(parsed, split, data_dir, download, channels_last)
    mean = std = None
    if standardize:
        if split == "train":
            mean, std = channel_stats(x)
        else:
            try:
                train_x = _load_raw(parsed, "train", data_dir, download, channels_last)[0]
            except DatasetError as exc:
                raise DatasetError(
                    f"standardize=True needs the train split of {parsed.label} to compute "
                    f"the mean and std: {exc}"
                ) from exc
            mean, std = channel_stats(train_x)
            del train_x
        x = apply_stats(x, mean, std)
    logger.debug("loaded %s/%s: x %s, %d classes", parsed.label, split, x.shape, num_classes)
    return Dataset(name=parsed.label, x=x, y=y, num_classes=num_classes, mean=mean, std=std)


def calibration_data(
    spec: str,
    n: int = 1000,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    standardize: bool = False,
    *,
    download: bool = True,
    channels_last: bool | None = None,
    split: str = "train",
) -> np.ndarray:
    """``n`` samples of the TRAIN split (seeded, without replacement), for calibration.

    Calibration (finding activation scales) must not see test data, so this reads the
    train split: for npz that is ``x_norm.npz``, and a DatasetError says so if it is
    missing. If the split has fewer than ``n`` samples, all are returned. ``split =
    "test"`` exists only to reproduce the SNN Toolbox, which normalizes image folders
    on the very images it tests (its caller says so in a warning).
    """
    if int(n) <= 0:
        raise DatasetError(f"calibration needs n >= 1 samples, got {n}")
    if split not in SPLITS:
        raise DatasetError(f"calibration split '{split}': use 'train' or 'test'")
    ds = load_dataset(
        spec,
        split,
        data_dir=data_dir,
        standardize=standardize,
        download=download,
        channels_last=channels_last,
    )
    if len(ds) == 0:
        raise DatasetError(f"{ds.name}: the {split} split is empty; no calibration data")
    if n > len(ds):
        logger.warning(
            "%s: only %d %s samples, fewer than the %d asked for calibration; using all",
            ds.name,
            len(ds),
            split,
            n,
        )
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ds), size=min(int(n), len(ds)), replace=False)
    return ds.x[idx]
