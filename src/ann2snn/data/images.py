"""Image folders (the SNN Toolbox's jpg format): ``DIR/<class_name>/*.jpg|*.jpeg|*.png``.

Class folders sorted by name give the label indices 0, 1, ... If ``DIR/train`` and
``DIR/test`` both exist they are the two splits (labels come from the union of their
class names, so both splits use one mapping); otherwise all of ``DIR`` is the test
split. Images are not resized: they must all share one size, since silently resizing
would change what the network sees.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .dataset import file_key, readonly

logger = logging.getLogger(__name__)

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png"})
GRAY_MODES = frozenset({"1", "L", "LA"})


def _pil():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow ships with the dependencies
        raise DatasetError("reading image folders needs Pillow: pip install pillow") from exc
    return Image


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")


def class_names(folder: Path) -> list[str]:
    """Sorted names of the class sub-folders of ``folder`` (hidden ones skipped)."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _split_dirs(directory: Path) -> dict[str, Path] | None:
    train, test = directory / "train", directory / "test"
    if train.is_dir() and test.is_dir():
        return {"train": train, "test": test}
    return None


@functools.lru_cache(maxsize=8)
def _decode(
    keys: tuple[tuple[str, int, int], ...], labels: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    image_mod = _pil()
    paths = [Path(k[0]) for k in keys]
    sizes, modes = [], []
    for p in paths:
        try:
            with image_mod.open(p) as im:
                sizes.append(im.size)
                modes.append(im.mode)
        except (OSError, ValueError) as exc:  # UnidentifiedImageError is an OSError
            raise DatasetError(f"{p}: cannot read image ({exc})") from exc
    for p, size in zip(paths, sizes, strict=True):
        if size != sizes[0]:
            raise DatasetError(
                f"{p}: size {size[0]}x{size[1]} differs from {paths[0]} "
                f"({sizes[0][0]}x{sizes[0][1]}); all images must share one size "
                "(resize them beforehand)"
            )
    mode = "L" if all(m in GRAY_MODES for m in modes) else "RGB"
    w, h = sizes[0]
    channels = 1 if mode == "L" else 3
    x = np.empty((len(paths), channels, h, w), dtype=np.float32)
    for i, p in enumerate(paths):
        try:
            with image_mod.open(p) as im:
                arr = np.asarray(im.convert(mode), dtype=np.float32)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{p}: cannot decode image ({exc})") from exc
        x[i] = arr[None] if mode == "L" else arr.transpose(2, 0, 1)
    x /= 255.0
    return readonly(x), readonly(np.asarray(labels, dtype=np.int64))


def _load_folder(folder: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Decode every image under ``folder/<class>/`` with labels from ``classes``."""
    keys: list[tuple[str, int, int]] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        sub = folder / name
        if not sub.is_dir():
            continue
        files = sorted(p for p in sub.iterdir() if _is_image(p))
        if not files:
            logger.warning("%s: class folder holds no .jpg/.jpeg/.png image", sub)
        keys.extend(file_key(p) for p in files)
        labels.extend([label] * len(files))
    if not keys:
        loose = [p.name for p in folder.iterdir() if _is_image(p)]
        hint = ""
        if loose:
            hint = f" (found {len(loose)} image(s) directly in it: move them into per-class "
            hint += "sub-folders)"
        raise DatasetError(
            f"images:{folder}: no images found{hint}; expected "
            f"{folder}/<class_name>/*.jpg|*.jpeg|*.png"
        )
    x, y = _decode(tuple(keys), tuple(labels))
    return x.copy(), y.copy()


def load_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(x, y, num_classes)`` of ``split``: x float32 ``(N, C, H, W)`` in [0, 1]."""
    if not directory.is_dir():
        raise DatasetError(f"image folder {directory} does not exist (spec images:DIR)")
    splits = _split_dirs(directory)
    if splits is None:
        if split == "train":
            raise DatasetError(
                f"images:{directory} has no train split (no {directory}/train and "
                f"{directory}/test sub-folders), so it cannot supply calibration data. "
                "Pass a separate folder of training images for calibration, or arrange "
                "the data as DIR/train/<class>/ and DIR/test/<class>/."
            )
        folder = directory
        classes = class_names(directory)
    else:
        folder = splits[split]
        train_cls, test_cls = class_names(splits["train"]), class_names(splits["test"])
        if train_cls != test_cls:
            logger.warning(
                "%s: train and test have different class folders; labels use the union of both",
                directory,
            )
        classes = sorted(set(train_cls) | set(test_cls))
    logger.debug("images:%s classes: %s", directory, classes)
    x, y = _load_folder(folder, classes)
    return x, y, len(classes)
