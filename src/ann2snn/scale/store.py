"""The batch store that makes a run resumable: ``<out>.partial/`` beside the run folder.

    <out>.partial/
      manifest.json        what the batches belong to: the network's digest, the data's
                           digest and every setting that changes a number (a resume
                           into a store made by another network or config is refused,
                           naming the difference)
      INCOMPLETE.txt       "incomplete: resume with <command>", for a person
      batch-000000000.npz  one completed batch (analysis/batches.py BatchPart), named by
      batch-000000256.npz  its first sample index, written atomically (files.py)

The store is created when a run starts and removed once its run folder is written, so a
``<out>.partial/`` folder means exactly: this run is incomplete. Every rank of a
distributed job writes its own batches (the folder must be on a shared file system to
resume a multi-node job); resuming with another number of processes is fine, since
batches are cut the same way whatever the world size. Files are read with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from ..analysis.batches import BatchPart
from ..errors import Ann2SnnError
from ..files import atomic_path, write_atomic
from . import distributed

FORMAT = "ann2snn-batch-store/1"


class IncompleteRun(Ann2SnnError):
    """A partial run is in the way (resume it or delete it)."""


class Checked(Exception):  # noqa: N818 -- not an error: the end of a check-only run
    """Raised by :meth:`BatchStore.begin` of a check-only store once the check passed."""


def store_for(out: str | Path) -> Path:
    """The batch store of the run folder ``out``: ``<out>.partial`` beside it."""
    out = Path(out)
    return out.parent / f"{out.name}.partial"


def graph_digest(graph) -> str:
    """sha256 of a graph's serialized form (ir/serialize.py): structure and weights."""
    from ..ir.serialize import to_dict

    header, arrays = to_dict(graph)
    h = hashlib.sha256(json.dumps(header, sort_keys=True, default=str).encode())
    for k in sorted(arrays):
        v = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{v.dtype}:{v.shape}".encode())
        h.update(v.tobytes())
    return h.hexdigest()


def data_digest(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (x, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class BatchStore:
    """Completed batches of one run in ``folder``; ``resume`` allows continuing one."""

    def __init__(self, folder: str | Path, resume: bool = False, command: str | None = None,
                 check_only: bool = False):
        self.folder = Path(folder)
        self.resume = resume
        self.command = command
        self.check_only = check_only  #: begin() checks, then raises Checked (a launcher)

    def checked(self) -> BatchStore:
        """A check-only copy: a run given it stops at :meth:`begin`, having refused (or
        not) the existing store, before any work."""
        return BatchStore(self.folder, self.resume, self.command, check_only=True)

    def check_start(self) -> None:
        """Before any work: refuse to overwrite a partial run unless resuming."""
        if (self.folder / "manifest.json").is_file() and not self.resume:
            raise IncompleteRun(
                f"{self.folder} holds an incomplete run ({len(self.done())} batches done); "
                "resume it with --resume (same network and settings), or delete that folder "
                "to start over")

    def begin(self, fingerprint: dict) -> None:
        """Check an existing store against ``fingerprint`` (every rank), or create it
        (rank 0); the other ranks wait until it exists."""
        self.check_start()
        path = self.folder / "manifest.json"
        if path.is_file():
            old = json.loads(path.read_text())
            diff = _differences(old.get("fingerprint", {}), fingerprint)
            if diff:
                raise IncompleteRun(f"cannot resume into {self.folder}: it was made by another "
                                    f"run ({'; '.join(diff)}); delete it to start over")
        if self.check_only:
            raise Checked
        distributed.barrier()
        if distributed.context().is_root and not path.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, json.dumps({"format": FORMAT, "fingerprint": fingerprint},
                                          indent=2).encode())
            cmd = self.command or "the same command with --resume"
            write_atomic(self.folder / "INCOMPLETE.txt",
                         f"This run is incomplete: its finished batches are kept here.\n"
                         f"Resume it with:\n  {cmd}\n".encode())
        distributed.barrier()

    def _file(self, start: int) -> Path:
        return self.folder / f"batch-{start:09d}.npz"

    def done(self) -> list[int]:
        """First sample indices of the stored batches."""
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("batch-*.npz"))

    def has(self, start: int) -> bool:
        return self._file(start).is_file()

    def load(self, start: int) -> BatchPart:
        with np.load(self._file(start), allow_pickle=False) as f:
            return BatchPart.from_arrays({k: f[k] for k in f.files})

    def save(self, part: BatchPart) -> None:
        with atomic_path(self._file(part.start)) as tmp:
            np.savez(tmp, **part.arrays())

    def remove(self) -> None:
        """Delete the store (the run folder is complete now)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _differences(old: dict, new: dict) -> list[str]:
    names = {"network": "another network", "data": "other samples"}
    out = []
    for k in sorted(set(old) | set(new)):
        if old.get(k) != new.get(k):
            out.append(f"{names[k]} (digest {str(old.get(k))[:12]} there, "
                       f"{str(new.get(k))[:12]} now)" if k in names
                       else f"{k} = {old.get(k)!r} there, {new.get(k)!r} now")
    return out
