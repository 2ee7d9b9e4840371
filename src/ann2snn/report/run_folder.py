"""The run folder: metrics.json, predictions.npz, the plots and report.html of a run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..files import atomic_file, write_atomic


def save_run(result, out_dir: str | os.PathLike, report: bool = True) -> Path:
    """Write metrics.json and predictions.npz of ``result`` (a SimulationResult) into
    ``out_dir``, then (``report``) the plots (PNG) and the self-contained report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_metrics(result, out)
    with atomic_file(out / "predictions.npz") as fh:
        np.savez(fh, labels=result.labels,
                 ann_prediction=(result.ann_predictions if result.ann_predictions is not None
                                 else np.full_like(result.labels, -1)),
                 snn_readout=result.snn_readout,
                 snn_prediction=result.snn_predictions[-1])
    if report:
        from .html import write_report

        write_report(result, out)  # adds the plotting time to wall_time_s
        _write_metrics(result, out)
    return out


def _write_metrics(result, out: Path) -> None:
    write_atomic(out / "metrics.json",
                 json.dumps(result.metrics(), indent=2, allow_nan=False).encode())
