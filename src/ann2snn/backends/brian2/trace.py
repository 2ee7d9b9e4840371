"""Traces of a Brian2 run in the format of docs/traces.md, for ``ann2snn diff``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ...analysis.trace import TraceRecorder, check_layers
from ...analysis.traceio import Trace, TraceError
from ...arrays import to_numpy


def record_trace(snn, x, sample_indices: Sequence[int], timesteps: int,
                 layers: Iterable[str] | None = None, *, kinds: Iterable[str] | None = None,
                 target: str = "numpy") -> Trace:
    """Simulate the samples ``x[sample_indices]`` in Brian2 and trace them, as
    :func:`ann2snn.analysis.trace.record_trace` does with the built-in simulator (which
    gives the trace to compare with, run with ``synaptic_delay=1``)."""
    import brian2

    from ...api import simulate

    x = to_numpy(x)
    idx = [int(i) for i in sample_indices]
    if not idx or not all(0 <= i < len(x) for i in idx):
        raise TraceError(f"sample indices must lie in 0..{len(x) - 1}, got {idx[:5]}")
    rec = TraceRecorder(layers=check_layers(snn.graph, layers), kinds=kinds)
    rec.set_inputs(snn.graph.inputs)
    simulate(snn, x[idx], np.zeros(len(idx), np.int64), backend="brian2", timesteps=timesteps,
             synaptic_delay=1, probe=rec, evaluate_ann=False, diagnostics=False,
             example_sample=None, target=target)
    return rec.trace(snn.graph, idx, f"brian2 {brian2.__version__} ({target} target)",
                     {"encoding": "analog", "synaptic_delay": 1})
