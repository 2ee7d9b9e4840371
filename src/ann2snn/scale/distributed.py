"""Distributed evaluation on torch.distributed (gloo on CPU, NCCL on CUDA).

A job is launched by ``torchrun`` (or by ``--workers N``, which runs the same launcher,
torch.distributed.run, on this machine). Each process reads its rank and the world
size from the environment torchrun sets; the data-set loop (analysis/evaluate.py) gives
rank r the batches r, r + W, r + 2W, ... and rank 0 gathers every batch's part and
merges them in batch order, so the results equal a single process's exactly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import Ann2SnnError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1

    @property
    def is_root(self) -> bool:
        return self.rank == 0


_ALONE = [False]


@contextlib.contextmanager
def alone():
    """Within the block this process works on its own (context() is rank 0 of 1), as
    each rank of a sweep does with its points."""
    _ALONE[0] = True
    try:
        yield
    finally:
        _ALONE[0] = False


def context() -> Context:
    """This process's rank and the world size (0 and 1 outside a distributed job)."""
    if dist.is_available() and dist.is_initialized() and not _ALONE[0]:
        return Context(dist.get_rank(), dist.get_world_size())
    return Context()


def launched() -> bool:
    """Whether this process was started by torchrun (or ``--workers``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str = "cpu") -> Context:
    """Join the job torchrun started (a no-op outside one): NCCL for CUDA, else gloo."""
    if launched() and not dist.is_initialized():
        cuda = torch.device(device).type == "cuda"
        if cuda and torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
        log.info("rank %d of %d joined (%s)", dist.get_rank(), dist.get_world_size(),
                 dist.get_backend())
    return context()


def local_device(name: str) -> str:
    """``cuda`` is this process's GPU (LOCAL_RANK) in a distributed job."""
    if name == "cuda" and context().world > 1:
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return name


def barrier() -> None:
    if context().world > 1:
        dist.barrier()


def gather(obj) -> list | None:
    """Every rank's ``obj`` on rank 0, in rank order (None on the other ranks)."""
    ctx = context()
    if ctx.world == 1:
        return [obj]
    out = [None] * ctx.world if ctx.is_root else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast(obj):
    """Rank 0's ``obj`` on every rank."""
    if context().world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def finish() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def check_workers(workers: int) -> None:
    if workers < 1:
        raise Ann2SnnError(f"--workers must be >= 1, got {workers}")


def launch(argv: list[str], workers: int) -> int:
    """Run ``ann2snn ARGV`` in ``workers`` local processes with torch.distributed.run (what
    ``torchrun --standalone --nproc-per-node W -m ann2snn ARGV`` does); returns the exit
    code. Each process gets cpu_count / workers threads unless OMP_NUM_THREADS is set."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    args = ["--standalone", "--nproc-per-node", str(workers), "--module", "ann2snn", *argv]
    log.info("torchrun %s", " ".join(args))
    sys.stdout.flush()
    try:
        torchrun(args)
    except ChildFailedError as e:
        codes = [f.exitcode for f in e.failures.values()]
        return next((c for c in codes if c in (2, 130)), codes[0] if codes else 1)
    return 0


def run_local(fn, workers: int, *args) -> dict:
    """``fn(*args)`` in ``workers`` local processes joined in one job (the launcher of
    torchrun, with a function entry point); returns {rank: return value}. ``fn`` must be
    importable by name (the processes are spawned)."""
    import uuid

    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=workers,
                          run_id=uuid.uuid4().hex, rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", max_restarts=0)
    return elastic_launch(config, fn)(*args)


def strip_workers(argv: list[str]) -> list[str]:
    """``argv`` without ``--workers N`` / ``--workers=N`` (the launched processes must not
    launch again)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--workers":
            skip = True
        elif not a.startswith("--workers="):
            out.append(a)
    return out
