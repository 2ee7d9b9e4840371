"""Atomic file writing: a file appears complete under its name, or not at all.

Everything the package writes (run folders, networks, traces, C projects, downloads)
goes through here: the data is written to a temporary name in the same folder, then
renamed over the target; on failure the temporary file is removed and the target is
left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # mkstemp creates 0600; give files the usual permissions


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to (``np.savez``, ``fig.savefig``); it
    is renamed to ``path`` when the block succeeds and removed when it raises. The
    temporary name ends in ``path``'s suffix (or ``suffix``), so that writers that pick
    the format from the name write the right one."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.",
                                suffix=path.suffix if suffix is None else suffix,
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        yield fh


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path) as fh:
        fh.write(data)
