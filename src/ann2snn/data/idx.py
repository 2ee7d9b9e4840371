"""Reading IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data in C order. Every
check here raises :class:`DatasetError` naming the file, because a truncated download
is the most common way these files go wrong.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import logging
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .dataset import file_key, readonly

logger = logging.getLogger(__name__)

#: IDX type code -> numpy dtype (multi-byte types are big-endian).
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: md5 of the *decompressed* standard files. Distributions recompress the .gz files
#: (Debian does, and so do other mirrors), so only the content hash is stable.
#: MNIST: the usual published values. Fashion-MNIST: computed from Debian's
#: dataset-fashion-mnist package and matching the ``raw_data`` md5s that other
#: loaders publish for the Zalando originals.
STANDARD_MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


def read_bytes(path: Path) -> bytes:
    """The (decompressed, if the name ends in .gz) content of ``path``."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(
            f"{path}: corrupt or truncated gzip file ({exc}); delete it and fetch it again"
        ) from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc


def parse_idx(data: bytes, source: str | Path) -> np.ndarray:
    """Decode IDX ``data``; ``source`` names the file in error messages."""
    if len(data) < 4:
        raise DatasetError(f"{source}: not an IDX file (only {len(data)} bytes; truncated?)")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_TYPES or ndim == 0:
        raise DatasetError(
            f"{source}: bad IDX magic number 0x{data[:4].hex()} "
            "(expected 0x0000TTDD with a known type TT and DD > 0); not an IDX file?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{source}: truncated IDX header ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise DatasetError(
            f"{source}: truncated IDX file: header says shape {dims} ({expected} bytes of "
            f"data) but only {got} bytes follow; delete it and fetch it again"
        )
    if got > expected:
        raise DatasetError(
            f"{source}: corrupt IDX file: {got - expected} unexpected bytes after the "
            f"data of shape {dims}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header)
    return arr.reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def _compare_md5(digest: str, name: str, source: Path) -> None:
    """Log whether the content is the standard file; refuse another data set's file."""
    base = source.name.removesuffix(".gz")
    if STANDARD_MD5.get(name, {}).get(base) == digest:
        logger.debug("%s: md5 matches the standard %s file", source, name)
        return
    for other, table in STANDARD_MD5.items():
        if other != name and digest in table.values():
            raise DatasetError(
                f"{source}: this is the {other} file, not {name}; "
                f"keep each data set in its own folder (e.g. DIR/{name}/)"
            )
    logger.info("%s: not the standard %s file (md5 %s); using it as given", source, name, digest)


@functools.lru_cache(maxsize=16)
def _load_idx_cached(key: tuple[str, int, int], name: str) -> np.ndarray:
    path = Path(key[0])
    data = read_bytes(path)
    _compare_md5(hashlib.md5(data).hexdigest(), name, path)
    return readonly(parse_idx(data, path))


def load_idx(path: Path, name: str = "") -> np.ndarray:
    """Read and validate the IDX file ``path`` (cached; the result is read-only).

    ``name`` is the data set the file should belong to; its decompressed md5 is
    compared with the standard values so that, for example, MNIST files found where
    Fashion-MNIST was looked for are refused instead of silently used.
    """
    try:
        key = file_key(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    return _load_idx_cached(key, name)
