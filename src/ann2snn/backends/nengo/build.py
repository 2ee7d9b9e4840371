"""A spiking Graph as a ``nengo.Network`` (docs/backends.md, "Nengo").

Every IF population is one ``nengo.Ensemble`` of :class:`~.neuron.IFNeurons` with gain 1
and its bias; every (source, population) projection of backends/projections.py is one
``nengo.Connection`` between the ``.neurons`` (or from the input ``Node``) with a
``nengo.transforms.Sparse`` transform holding the composed connection list, and
``synapse=None``, so a spike reaches the next population in the same step (Nengo
orders the operators so that a connection without a synapse is read after its source
updated: docs/design.md §3's delay 0). The simulator runs at dt = 1, so a spike's
output 1/dt is 1 and every weight is the graph's own: no rescaling, no rounding.

``lanes`` copies of the network run side by side in one Nengo model (block-diagonal
transforms, ensembles of ``lanes × n`` neurons): one Nengo run simulates that many
samples at once, with per-sample state kept apart exactly as in separate runs.

In integer mode the connection lists are the integer simulator's: a node without
constants of its own (pooling, padding, routing) passes its integers with weight 1 —
an average pool is the integer window *sum* (docs/integer-mode.md) — and the
membranes saturate at ±L in the neuron type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import nengo
import numpy as np

from ...ir import is_quantized
from ...ir.facts import populations
from ...ir.quant import if_thresholds
from ..connections import Connections, expand_in
from ..projections import integer_expand, projections
from .neuron import IFMembrane, IFNeurons

#: what a traced run probes besides the output, by trace kind (docs/traces.md)
TRACE_ATTRS = {"current": "input", "v_pre_reset": "v_pre_reset", "v": "voltage"}


def per_neuron(values, shape) -> np.ndarray:
    """One value, or one per channel (the first axis), as one value per neuron."""
    v = np.asarray(values, np.float64).reshape(-1)
    size = math.prod(shape)
    return np.full(size, v[0]) if len(v) == 1 else np.repeat(v, size // len(v))


def initial_voltage(node, theta: np.ndarray, integer: bool, limit: float | None) -> np.ndarray:
    """v(0) = v0·θ (integer mode: clamp(⌊v0·θ + ½⌋, −L, L)), as the simulators."""
    if not integer:
        return (node.v0 * theta).astype(np.float32).astype(np.float64)  # as if_init
    return np.clip(np.floor(theta * node.v0 + 0.5), -limit, limit)


def lane_transform(c: Connections, lanes: int) -> nengo.transforms.Sparse:
    """``c`` repeated on ``lanes`` independent copies (a block-diagonal sparse matrix)."""
    k = np.arange(lanes, dtype=np.int64)[:, None]
    post = (c.post[None, :] + k * c.n_post).reshape(-1)
    pre = (c.pre[None, :] + k * c.n_pre).reshape(-1)
    return nengo.transforms.Sparse((lanes * c.n_post, lanes * c.n_pre),
                                   indices=np.stack([post, pre], 1),
                                   init=np.tile(c.weight, lanes))


class Feed:
    """The input Node's output: ``values[step]`` (or one constant array), flat."""

    def __init__(self, size: int):
        self.size = size
        self.values = np.zeros((1, size))
        self.static = True

    def __call__(self, t: float) -> np.ndarray:
        if self.static:
            return self.values[0]
        return self.values[int(round(t)) - 1]  # dt = 1: step k runs at t = k


@dataclass
class Built:
    """A built Nengo model and what the runner reads from it."""

    sim: nengo.Simulator
    feed: Feed
    lanes: int
    probes: dict[str, dict[str, nengo.Probe]]  #: population -> trace kind -> probe


def build(graph, lanes: int, record: bool, progress: bool = False) -> Built:
    """The Nengo model of ``graph`` with ``lanes`` side-by-side copies; ``record``:
    also probe currents and membranes (for traces)."""
    integer = is_quantized(graph)
    projs = projections(graph, integer_expand if integer else expand_in)
    limit = float(graph.quant.v_limit) if integer else None
    (inp,) = graph.inputs
    feed = Feed(lanes * math.prod(graph.shapes[inp]))
    probes: dict[str, dict[str, nengo.Probe]] = {}
    with nengo.Network(label=graph.meta.get("name", "ann2snn")) as net:
        sources = {inp: nengo.Node(feed, size_out=feed.size, label=inp)}
        for p in populations(graph):
            shape = graph.shapes[p.name]
            size = math.prod(shape)
            theta = per_neuron(if_thresholds(p), shape)
            kind = IFMembrane if p.membrane_readout else IFNeurons
            ntype = kind(np.tile(theta, lanes), reset_zero=p.reset.value == "zero",
                         leak=p.leak, multi_spike=p.multi_spike, limit=limit,
                         initial_state={"voltage": np.tile(
                             initial_voltage(p, theta, integer, limit), lanes)})
            proj = projs[p.name]
            ens = nengo.Ensemble(lanes * size, 1, neuron_type=ntype, gain=np.ones(lanes * size),
                                 bias=np.tile(proj.bias, lanes), label=p.name)
            for src, conn in proj.incoming.items():
                pre = sources[src]
                nengo.Connection(pre, ens.neurons, transform=lane_transform(conn, lanes),
                                 synapse=None)
            sources[p.name] = ens.neurons
            probes[p.name] = {"spikes": nengo.Probe(ens.neurons, "output")}
            if record:
                probes[p.name].update({k: nengo.Probe(ens.neurons, a)
                                       for k, a in TRACE_ATTRS.items()})
    sim = nengo.Simulator(net, dt=1.0, progress_bar=progress, optimize=True)
    return Built(sim, feed, lanes, probes)
