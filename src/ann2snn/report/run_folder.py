"""The run folder: metrics.json, predictions.npz, the plots and report.html of a run.

A run folder is complete or absent: everything is written into a temporary sibling
folder and moved into place at the end (files.atomic_dir), so Ctrl-C, SIGTERM or an
error on the way leaves no partial folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..files import atomic_dir, atomic_file, write_atomic


def save_run(result, out_dir: str | os.PathLike, report: bool = True) -> Path:
    """Write metrics.json and predictions.npz of ``result`` (a SimulationResult) into
    ``out_dir``, then (``report``) the plots (PNG) and the self-contained report.html;
    the files appear together when all are written."""
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        write_run_files(result, tmp, report)
    return out


def write_run_files(result, out: Path, report: bool = True) -> None:
    """The run folder's files, written into the existing folder ``out`` (a staging
    folder of :func:`ann2snn.files.atomic_dir`, as :func:`save_run` and the jobs that
    add their own files to the run folder use it)."""
    _write_metrics(result, out)
    with atomic_file(out / "predictions.npz") as fh:
        np.savez(fh, labels=result.labels,
                 ann_prediction=(result.ann_predictions if result.ann_predictions is not None
                                 else np.full_like(result.labels, -1)),
                 snn_readout=result.snn_readout,
                 snn_prediction=result.snn_final_predictions)
    if report:
        from .html import write_report

        write_report(result, out)  # adds the plotting time to wall_time_s
        _write_metrics(result, out)


def _write_metrics(result, out: Path) -> None:
    write_atomic(out / "metrics.json",
                 json.dumps(result.metrics(), indent=2, allow_nan=False).encode())
