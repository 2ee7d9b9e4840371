"""Facts about a graph that every simulator, pass and backend needs, computed in one
place from the node traits (ir/nodes.py).

- :func:`static_nodes`: under analog input, the nodes whose value is the same every
  step (the input, and everything computed from it before the first population):
  computed once per input instead of once per step.
- :func:`binary_nodes`: nodes whose outputs are always 0/1 spikes, so an event is a
  non-zero value and needs no ``!= 0`` test.
- :func:`burst_nodes`: nodes whose outputs are spike counts that may exceed 1 (burst
  populations, and what passes their spikes on): an element of value m is m spikes.
- :func:`consumers`: the graph's fan-out, every node's readers in topological order.
- :func:`populations`: the neuron populations in topological order.
- :func:`traced_nodes`: what a trace records (docs/traces.md): the inputs and the
  populations, in topological order.
"""

from __future__ import annotations

from .graph import Graph
from .nodes import Node


def static_nodes(graph: Graph) -> set[str]:
    """Nodes that depend on the input only through analog (non-population) operations:
    under analog input (a constant current) their values do not change over time."""
    static: set[str] = set()
    for x in graph:
        if not x.inputs:
            static.add(x.name)  # an Input
        elif not x.population and all(i in static for i in x.inputs):
            static.add(x.name)
    return static


def binary_nodes(graph: Graph) -> set[str]:
    """Nodes whose outputs are always 0/1 spikes: binary populations, and nodes that
    pass spikes through (:attr:`Node.passes_spikes`) from binary inputs only."""
    out: set[str] = set()
    for x in graph:
        if x.population:
            if x.binary:
                out.add(x.name)
        elif x.passes_spikes and x.inputs and all(i in out for i in x.inputs):
            out.add(x.name)
    return out


def burst_nodes(graph: Graph) -> set[str]:
    """Nodes whose outputs are spike counts per step that may exceed 1: populations with
    ``multi_spike > 1`` (burst spikes), and nodes that pass spikes through
    (:attr:`Node.passes_spikes`) from spike inputs only, one of them a burst."""
    spikes = binary_nodes(graph)
    out: set[str] = set()
    for x in graph:
        if x.population:
            if x.multi_spike > 1 and not x.membrane_readout:
                out.add(x.name)
        elif x.passes_spikes and x.inputs and all(i in out or i in spikes for i in x.inputs) \
                and any(i in out for i in x.inputs):
            out.add(x.name)
    return out


def consumers(graph: Graph) -> dict[str, list[Node]]:
    """Every node's readers (a node reading one tensor twice is listed once)."""
    out: dict[str, list[Node]] = {name: [] for name in graph.nodes}
    for x in graph:
        for i in dict.fromkeys(x.inputs):
            out[i].append(x)
    return out


def populations(graph: Graph) -> list[Node]:
    """The neuron populations, in topological order."""
    return [x for x in graph if x.population]


def traced_nodes(graph: Graph) -> list[Node]:
    """The nodes a trace holds, in simulation order: the inputs and the populations."""
    return [x for x in graph if not x.inputs or x.population]
