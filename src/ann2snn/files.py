"""Atomic file writing: a file appears complete under its name, or not at all.

Everything the package writes (run folders, networks, traces, C projects, downloads)
goes through here: the data is written to a temporary name in the same folder, then
renamed over the target; on failure the temporary file is removed and the target is
left as it was. A folder of several files (a run folder) is written into a temporary
sibling folder and moved into place at the end (:func:`atomic_dir`), with SIGINT and
SIGTERM held back while it moves, so an interrupted run leaves no partial folder.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # the usual permissions (a writer may replace the file)


def _fresh(parent: Path, prefix: str, suffix: str = "") -> Path:
    """A name in ``parent`` that nothing has yet (it is not created here): the caller
    holds the name *before* it creates the file or folder, inside the ``try`` that
    removes it, so a signal at any moment after the creation still gets it removed."""
    while True:
        tmp = parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        if not os.path.lexists(tmp):
            return tmp


def _taken(e: BaseException, tmp: Path) -> bool:
    """Whether ``e`` says that another process took ``tmp`` between :func:`_fresh` and
    its creation here: then it is not ours to remove."""
    return isinstance(e, FileExistsError) and e.filename == str(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to (``np.savez``, ``fig.savefig``); it
    is renamed to ``path`` when the block succeeds and removed when it raises. The
    temporary name ends in ``path``'s suffix (or ``suffix``), so that writers that pick
    the format from the name write the right one."""
    path = Path(path)
    tmp = _fresh(path.parent, f".{path.name}.", path.suffix if suffix is None else suffix)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _MODE))
        yield tmp
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException as e:
        if not _taken(e, tmp):
            tmp.unlink(missing_ok=True)
        raise


def probe_writable(folder: Path) -> None:
    """Create a file in ``folder`` and remove it (``OSError`` where it cannot be made);
    nothing is left whenever a signal comes."""
    tmp = _fresh(folder, ".ann2snn-write-test-")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        tmp.unlink()
    except BaseException as e:
        if not _taken(e, tmp):
            with contextlib.suppress(OSError):
                tmp.unlink()
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


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (they are delivered after the block), in the main thread.
    The mask to restore is read before anything is blocked, so that a handler which
    raises between the two calls (a signal that came just before) cannot leave the
    process with SIGINT blocked."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``path`` to write a set of files into; when the block
    succeeds its files appear in ``path``: by one rename when ``path`` is absent or
    empty, else by one rename per file (files of an earlier run that the new one does
    not write stay). When the block raises (or is interrupted), the temporary folder is
    removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh(path.parent, f".{path.name}.partial-")
    try:  # from before the folder exists: a signal at any moment after removes it
        tmp.mkdir(mode=0o777 & ~_umask())
        yield tmp
        with _signals_held():
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
            if not path.exists():
                os.replace(tmp, path)
                return
            for entry in tmp.iterdir():
                os.replace(entry, path / entry.name)
            tmp.rmdir()
    except BaseException as e:
        if not _taken(e, tmp):
            with _signals_held():
                shutil.rmtree(tmp, ignore_errors=True)
        raise
