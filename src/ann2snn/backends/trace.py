"""Traces recorded by a backend's own simulator (``ann2snn trace --backend nest``), in
the format of docs/traces.md, so ``ann2snn diff`` compares them layer by layer with the
built-in simulator's trace of the same samples (recorded with the same synaptic delay).

A backend that can (``Backend.traces``: nengo, brian2, nest) feeds the ``probe`` of the
data-set loop, an :class:`~ann2snn.analysis.trace.TraceRecorder`, with its own currents,
membranes and spikes; what each records natively is said in docs/backends.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..analysis.trace import TraceRecorder, check_layers, traced_samples
from ..analysis.traceio import Trace, TraceError
from . import BACKENDS


def default_delay(backend, graph) -> int:
    """0 where the backend implements it (the built-in default), else its one delay."""
    delays = backend.delays(graph)
    return 0 if 0 in delays else min(delays)


def record_trace(snn, x, sample_indices: Sequence[int], timesteps: int,
                 layers: Iterable[str] | None = None, *, backend: str,
                 kinds: Iterable[str] | None = None, synaptic_delay: int | None = None,
                 **options) -> Trace:
    """Simulate ``x[sample_indices]`` with ``backend`` and trace them, as
    :func:`ann2snn.analysis.trace.record_trace` does with the built-in simulator.
    ``options`` go to the backend's ``run`` (e.g. ``target="cython"`` for brian2)."""
    from ..backends import simulate

    b = BACKENDS.get(backend, "run")
    if not b.traces:
        able = [nm for nm in BACKENDS.names("run")
                if nm != backend and BACKENDS.get(nm).traces]
        raise TraceError(f"the '{backend}' backend records no traces; backends that do: "
                         + ", ".join(["ann2snn (the default)", *able]))
    x, idx = traced_samples(x, sample_indices)
    delay = default_delay(b, snn.graph) if synaptic_delay is None else int(synaptic_delay)
    rec = TraceRecorder(layers=check_layers(snn.graph, layers), kinds=kinds)
    rec.set_inputs(snn.graph.inputs)
    simulate(snn, x[idx], backend, labels=np.zeros(len(idx), np.int64), timesteps=timesteps,
             synaptic_delay=delay, probe=rec, evaluate_ann=False, diagnostics=False,
             example_sample=None, **options)
    return rec.trace(snn.graph, idx, f"{backend} backend: {b.description}",
                     {"encoding": "analog", "synaptic_delay": delay, "backend": backend})
