"""What the PyNN network is made of, computed from the graph without PyNN.

Per population (docs/backends.md, "NEST (PyNN)"): its size, per-neuron threshold and
initial membrane, whether it only integrates (membrane readout), the connections from
every other population, and its constant drive — the bias plus, for a population fed by
the analog input, ``W ⊛ x`` (one constant per sample, docs/design.md §3).

Integer mode (docs/integer-mode.md): the integer simulator's AvgPool and GlobalAvgPool
sum their window (the 1/k is folded downstream), so before the connection lists are
built they are replaced by the equal depthwise convolutions with weights 1; every
weight, bias and threshold is then an integer and float64 holds each partial sum exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...ir import Graph, ResetMode
from ...ir import nodes as n
from ...ir.quant import if_thresholds
from ..connections import Connections
from ..projections import projections


@dataclass(frozen=True, eq=False)
class PopulationPlan:
    """One ann2snn population as one PyNN population."""

    name: str
    shape: tuple[int, ...]
    threshold: np.ndarray  #: float64 per neuron
    v0: np.ndarray  #: float64 per neuron: the membrane at t = 0
    membrane_readout: bool
    bias: np.ndarray  #: float64 per neuron, every step
    from_input: Connections | None  #: the analog input's synapses (a constant current)
    incoming: dict[str, Connections]  #: source population -> synapses (delay 1 step)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def drive(self, x_flat: np.ndarray | None) -> np.ndarray:
        """The constant per-step input of every neuron, (B, size): bias + W ⊛ x."""
        if self.from_input is None or x_flat is None:
            b = 1 if x_flat is None else len(x_flat)
            return np.broadcast_to(self.bias, (b, self.size)).copy()
        return self.from_input.apply(x_flat) + self.bias


def _sum_pool(graph: Graph) -> Graph:
    """AvgPool / GlobalAvgPool as the integer simulator computes them: window sums."""
    out: list[n.Node] = []
    for x in graph:
        shape = graph.shapes[x.inputs[0]] if x.inputs else None
        if isinstance(x, n.AvgPool):
            c, nd = shape[0], len(x.kernel)
            out.append(n.Conv(x.name, x.inputs, weight=np.ones((c, 1, *x.kernel)),
                              stride=x.stride, padding=x.padding, dilation=(1,) * nd,
                              groups=c))
        elif isinstance(x, n.GlobalAvgPool):
            c, spatial = shape[0], tuple(shape[1:])
            conv = x.name + "::sum"
            out.append(n.Conv(conv, x.inputs, weight=np.ones((c, 1, *spatial)),
                              stride=(1,) * len(spatial), padding=(0,) * len(spatial),
                              dilation=(1,) * len(spatial), groups=c))
            out.append(n.Reshape(x.name, (conv,), shape=(c,)))
        else:
            out.append(x)
    return graph.replace(out)


def integer_limit(graph: Graph) -> int | None:
    """The integer simulator's saturation bound L (None for a float graph)."""
    return None if graph.quant is None else int(graph.quant.v_limit)


def _per_neuron(values, shape) -> np.ndarray:
    v = np.asarray(values, np.float64).reshape(-1)
    if len(v) == 1:
        return np.full(math.prod(shape), v[0])
    return np.repeat(v, math.prod(shape[1:]))  # one per channel


def plan(graph: Graph) -> list[PopulationPlan]:
    """The populations of ``graph`` in topological order."""
    integer = graph.quant is not None
    g = _sum_pool(graph) if integer else graph
    inp = g.inputs[0]
    out = []
    for name, proj in projections(g).items():
        node: n.IF = g[name]
        shape = tuple(g.shapes[name])
        theta = _per_neuron(if_thresholds(node), shape)
        if integer:
            lim = integer_limit(graph)
            v0 = np.clip(np.floor(theta * node.v0 + 0.5), -lim, lim)
        else:
            v0 = theta * node.v0
        out.append(PopulationPlan(
            name, shape, theta, v0, node.membrane_readout, proj.bias,
            proj.incoming.get(inp), {s: c for s, c in proj.incoming.items() if s != inp}))
    return out


def refusals(graph: Graph) -> list[tuple[str, str]]:
    """(text, hint) for every population feature iaf_psc_delta cannot reproduce."""
    found = []
    leaky = [p.name for p in graph if p.population and p.leak]
    if leaky:
        found.append((f"populations {', '.join(leaky)} leak (v <- v·(1-leak)); NEST's "
                      "iaf_psc_delta leaks exponentially toward E_L instead",
                      "convert without a leak"))
    multi = [p.name for p in graph if p.population and p.multi_spike > 1]
    if multi:
        found.append((f"populations {', '.join(multi)} emit several spikes per step; a NEST "
                      "neuron spikes at most once per step", "convert without multi_spike"))
    return found


def reset_zero(graph: Graph) -> bool:
    return all(p.reset is ResetMode.ZERO for p in graph if p.population)
