"""Burst spikes (docs/low-latency.md, "Burst spikes"): hidden populations that emit up to
k spikes per step (``IF.multi_spike = k``, docs/design.md §3).

The threshold of a burst population is λ/k (normalize's ``burst``), so that a neuron
represents its activation a ∈ [0, λ] with k·T levels in T steps instead of T: per step
it emits clip(⌊v/θ⌋, 0, k) spikes. The output population stays binary (its spike count,
or its membrane, is the readout).
"""

from __future__ import annotations

import dataclasses

from ..errors import ConversionError
from ..ir import Graph
from ..ir import nodes as n


def check_burst(burst) -> int:
    """``burst`` as an int >= 1, or a ConversionError naming it."""
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ConversionError(f"burst must be a whole number >= 1 (spikes per step and "
                              f"neuron; 1: binary spikes), got {burst!r}")
    return burst


def burst_populations(graph: Graph, k: int) -> Graph:
    """A copy of the spiking ``graph`` whose hidden populations (every IF but the
    output) emit up to ``k`` spikes per step; records ``meta["burst"] = k``."""
    k = check_burst(k)
    nodes = [dataclasses.replace(x, multi_spike=k)
             if isinstance(x, n.IF) and x.name != graph.output else x for x in graph]
    meta = dict(graph.meta)
    meta["burst"] = k
    return Graph(nodes, graph.output, meta)
