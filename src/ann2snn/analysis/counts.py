"""Operation counts: the ANN's multiply-accumulates per layer."""

from __future__ import annotations

import math

from ..ir import Graph
from ..ir import nodes as n


def macs_per_layer(graph: Graph) -> dict[str, int]:
    """Multiply-accumulates per sample of every weighted layer (Conv, ConvTranspose, Dense)."""
    out: dict[str, int] = {}
    for x in graph.of_type(n.Conv, n.Dense, n.ConvTranspose):
        w = x.weight
        if isinstance(x, n.Dense):
            out[x.name] = int(w.shape[0] * w.shape[1])
        elif isinstance(x, n.Conv):
            out[x.name] = int(math.prod(graph.shapes[x.name]) * math.prod(w.shape[1:]))
        else:
            out[x.name] = int(math.prod(graph.shapes[x.inputs[0]]) * math.prod(w.shape[1:]))
    return out


def static_layers(graph: Graph) -> set[str]:
    """Nodes that depend on the input only through analog (non-spiking) operations."""
    static: set[str] = set()
    for x in graph:
        if isinstance(x, n.Input) or (not isinstance(x, n.IF) and x.inputs
                                      and all(i in static for i in x.inputs)):
            static.add(x.name)
    return static
