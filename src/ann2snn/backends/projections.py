"""Projections between populations: the connection lists of every chain of synapse
nodes between two populations, composed into one list per (source, target) pair.

The sources are the Input and the populations; every population receives, from each
source that reaches it, one :class:`~ann2snn.backends.connections.Connections` and a
bias map, such that its input current at every step is ``sum over sources of
scatter_add(source[pre] * weight -> post) + bias`` — the float simulator's current.
A stateful node (SpikingMaxPool) or a non-linear one (ReLU, MaxPool, Softmax) on such
a chain cannot be composed: :func:`projections` names all of them in one error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConversionError
from ..ir.facts import populations
from .connections import EXPAND, Connections, Expansion, expand_in


@dataclass(frozen=True, eq=False)
class Projection:
    """Everything that drives the population ``target``."""

    target: str
    incoming: dict[str, Connections]  #: source (the Input or a population) -> synapses
    bias: np.ndarray  #: float64 per target neuron

    def current(self, sources: dict[str, np.ndarray]) -> np.ndarray:
        """The input current for flat source values ``{source: (…, n_pre)}``."""
        return sum(c.apply(sources[s]) for s, c in self.incoming.items()) + self.bias


def _why(node) -> str:
    if node.stateful:
        return "keeps state from step to step (it needs its own implementation in the " \
               "backend, or convert with max_to_avg_pool=True)"
    if node not in EXPAND:
        return "is not linear, so it has no connection list (supported: " \
               + ", ".join(EXPAND.supported()) + ")"
    return ""


def projections(graph, expand=expand_in) -> dict[str, Projection]:
    """Per population (in topological order), its composed incoming connections.

    ``expand(graph, name)`` gives each node's :class:`~ann2snn.backends.connections.
    Expansion` (default: the float simulator's op, :func:`expand_in`)."""
    forms: dict[str, tuple[dict[str, Connections], np.ndarray]] = {}
    blocked: dict[str, list[str]] = {}  # node -> the uncomposable nodes it depends on
    out: dict[str, Projection] = {}
    for x in graph:
        size = math.prod(graph.shapes[x.name])
        if x.population:
            if x.inputs[0] not in blocked:
                incoming, bias = forms[x.inputs[0]]
                out[x.name] = Projection(x.name, incoming, bias)
        if not x.inputs or x.population:  # a source
            eye = np.arange(size)
            forms[x.name] = ({x.name: Connections(eye, eye, np.ones(size), size, size)},
                             np.zeros(size))
            continue
        causes = [c for i in x.inputs for c in blocked.get(i, [])]
        if x.stateful or type(x) not in EXPAND:
            causes.append(x.name)
        if causes:
            blocked[x.name] = list(dict.fromkeys(causes))
            continue
        e = expand(graph, x.name)
        incoming: dict[str, Connections] = {}
        bias = e.bias.copy()
        for i, conn in zip(x.inputs, e.inputs):
            srcs, b = forms[i]
            bias += conn.apply(b)
            for s, c in srcs.items():
                step = conn.after(c)
                incoming[s] = incoming[s] + step if s in incoming else step
        forms[x.name] = (incoming, bias)
    bad = dict.fromkeys(c for p in populations(graph) for c in blocked.get(p.inputs[0], []))
    if bad:
        lines = [f"  - {graph[c].op} '{c}' {_why(graph[c])}" for c in bad]
        raise ConversionError("cannot compose connection lists between populations through "
                              f"{len(bad)} node(s):\n" + "\n".join(lines))
    return out


def integer_expand(graph, name: str) -> Expansion:
    """:func:`expand_in` with integer mode's arithmetic: a node that multiplies by no
    constant of its own sums its inputs with weight 1 (AvgPool: the window sum)."""
    from dataclasses import replace

    e = expand_in(graph, name)
    if graph[name].multiplicative:
        return e
    return Expansion(tuple(replace(c, weight=np.ones_like(c.weight)) for c in e.inputs), e.bias)
