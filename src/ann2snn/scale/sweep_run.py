"""Running a sweep: every point through the pipeline in its own run folder, cached and
resumable, the points shared among the workers; then the table, plots and page."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from . import distributed
from .store import BatchStore, store_for
from .sweep import Point, load_sweep

log = logging.getLogger(__name__)


def cached(point: Point) -> bool:
    """Whether ``point``'s folder holds a finished run of exactly its config."""
    out = Path(point.config.output.dir)
    try:
        saved = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return (out / "metrics.json").is_file() and saved == point.config.model_dump(mode="json")


def run_point(point: Point) -> None:
    """Run one point (single process; an interrupted one continues from its batches)."""
    from ..pipeline import run_pipeline

    store = BatchStore(store_for(point.config.output.dir), resume=True)
    with distributed.alone():
        run_pipeline(point.config, progress=False, store=store)


def run_sweep(path, out=None, announce=None) -> Path | None:
    """Run the sweep file ``path`` in this process's share (rank r runs points r, r + W,
    ...); rank 0 then writes the summary. Returns the sweep folder on rank 0.
    ``announce(text)`` is told each point as it starts (the CLI prints it)."""
    from .sweep_report import write_summary

    sweep = load_sweep(path, out)
    root = Path(out) if out is not None else Path(sweep.base.output.dir)
    ctx = distributed.context()
    mine = sweep.points[ctx.rank::ctx.world]
    for i, point in enumerate(mine):
        if cached(point):
            log.info("point %s: cached", point.name)
            continue
        if announce is not None:
            announce(f"[rank {ctx.rank}] point {i + 1}/{len(mine)}: {point.name}")
        run_point(point)
    distributed.barrier()
    if not ctx.is_root:
        return None
    write_summary(sweep, root)
    return root
