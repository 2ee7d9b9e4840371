"""MNIST and Fashion-MNIST: finding the four IDX files, downloading them, decoding them.

The files are searched in the folders listed by :func:`paths.candidate_dirs`; the first
folder holding every file a request needs wins (files are never mixed across folders).
Only if none does, and ``download`` is true, the standard mirror is tried; downloads go
to a temporary name in the cache and are renamed after their md5 checks out, so a
half-written file never appears under the real name.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..files import atomic_path
from .dataset import check_finite, check_labels
from .idx import STANDARD_MD5, load_idx
from .paths import ENV_VAR, SYSTEM_DIRS, cache_dir, candidate_dirs

logger = logging.getLogger(__name__)

MIRRORS: dict[str, str] = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = FILES["train"] + FILES["test"]
DOWNLOAD_TIMEOUT_S = 10.0
NUM_CLASSES = 10


def _find_file(folder: Path, base: str) -> Path | None:
    """``folder/base`` or ``folder/base.gz`` (raw preferred: faster to read)."""
    for cand in (folder / base, folder / f"{base}.gz"):
        if cand.is_file():
            return cand
    return None


def find_files(
    name: str, bases: tuple[str, ...], data_dir=None
) -> tuple[dict[str, Path] | None, list[str]]:
    """Search for ``bases`` of data set ``name``.

    Returns ``(found, looked)``: ``found`` maps each base name to its path (or is
    None), and ``looked`` describes every folder tried, for the error message.
    """
    looked: list[str] = []
    for folder in candidate_dirs(name, data_dir):
        if not folder.is_dir():
            looked.append(f"{folder} (does not exist)")
            continue
        hits = {b: _find_file(folder, b) for b in bases}
        missing = [b for b, p in hits.items() if p is None]
        if not missing:
            logger.info("%s: using the files in %s", name, folder)
            return {b: p for b, p in hits.items() if p is not None}, looked
        if len(missing) < len(bases):
            looked.append(f"{folder} (incomplete: missing {', '.join(missing)})")
        else:
            looked.append(str(folder))
    return None, looked


def download_file(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch ``url`` to ``dest`` (written to a temporary name, then renamed)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with (atomic_path(dest, suffix=".part") as tmp, open(tmp, "wb") as out,
          urllib.request.urlopen(url, timeout=timeout) as resp):
        while chunk := resp.read(1 << 20):
            out.write(chunk)


def _verify_download(path: Path, name: str, base: str) -> None:
    """Check the decompressed md5 of a freshly downloaded ``.gz``; delete it if wrong."""
    want = STANDARD_MD5[name][base]
    try:
        with gzip.open(path, "rb") as fh:
            got = hashlib.md5(fh.read()).hexdigest()
    except (OSError, EOFError) as exc:
        path.unlink(missing_ok=True)
        raise DatasetError(f"downloaded {path.name} is not a valid gzip file ({exc})") from exc
    if got != want:
        path.unlink(missing_ok=True)
        raise DatasetError(f"downloaded {path.name} has md5 {got}, expected {want}")


def download(name: str) -> Path:
    """Download the four files of ``name`` into the cache; return the folder.

    Stops at the first network error so that an offline machine fails within about
    :data:`DOWNLOAD_TIMEOUT_S` seconds. Raises ``OSError`` (network) or DatasetError
    (bad content).
    """
    folder = cache_dir() / name
    created = [p for p in (folder.parent, folder) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for base in ALL_FILES:
            if _find_file(folder, base) is not None:
                continue
            url = MIRRORS[name] + base + ".gz"
            tmp_dest = folder / f".{base}.gz.unverified"
            logger.info("downloading %s", url)
            download_file(url, tmp_dest)
            _verify_download(tmp_dest, name, base)
            os.replace(tmp_dest, folder / f"{base}.gz")
    except BaseException:
        for p in reversed(created):  # leave no empty folders behind a failed try
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
    return folder


def _not_found(name: str, bases: tuple[str, ...], looked: list[str], why: str) -> DatasetError:
    title = TITLES[name]
    lines = [f"{title} data set not found. Looked for {', '.join(bases)} (raw or .gz) in:"]
    lines += [f"  - {entry}" for entry in looked]
    lines.append(why)
    lines.append(
        "To fix: pass --data-dir DIR (data_dir=DIR) with DIR holding the IDX files, or set "
        f"{ENV_VAR}=DIR, or put the files in {cache_dir() / name}."
    )
    if name in SYSTEM_DIRS:
        lines.append(
            "On Debian/Ubuntu: apt-get install dataset-fashion-mnist "
            f"(installs them into {SYSTEM_DIRS[name][0]})."
        )
    return DatasetError("\n".join(lines))


def resolve(name: str, split: str, data_dir=None, download_ok: bool = True) -> dict[str, Path]:
    """The paths of the image and label files for ``split``, downloading if allowed."""
    bases = FILES[split]
    found, looked = find_files(name, bases, data_dir)
    if found is not None:
        return found
    if not download_ok:
        raise _not_found(name, bases, looked, "Download disabled (download=False).")
    try:
        folder = download(name)
    except (OSError, urllib.error.URLError, DatasetError) as exc:
        logger.debug("download of %s failed", name, exc_info=True)
        raise _not_found(
            name, bases, looked, f"Download from {MIRRORS[name]} failed: {exc}"
        ) from exc
    return {b: p for b in bases if (p := _find_file(folder, b)) is not None}


def load_split(
    name: str, split: str, data_dir=None, download_ok: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 1, H, W)`` float32 in [0, 1] and int64 labels of one split."""
    files = resolve(name, split, data_dir, download_ok)
    img_base, lbl_base = FILES[split]
    img_path, lbl_path = files[img_base], files[lbl_base]
    images = load_idx(img_path, name)
    labels = load_idx(lbl_path, name)
    if images.ndim != 3:
        raise DatasetError(
            f"{img_path}: expected 3 dimensions (N, rows, cols), got shape {images.shape}"
        )
    if labels.ndim != 1:
        raise DatasetError(f"{lbl_path}: expected 1 dimension (N,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise DatasetError(
            f"{img_path} has {len(images)} images but {lbl_path} has {len(labels)} labels"
        )
    check_finite(images, img_path)
    check_labels(labels, NUM_CLASSES, lbl_path)
    x = images.astype(np.float32)[:, None, :, :]
    if images.dtype == np.uint8:
        x /= 255.0
    return x, labels.astype(np.int64)
