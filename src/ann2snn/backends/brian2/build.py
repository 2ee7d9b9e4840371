"""A spiking Graph as a Brian2 network, ``B`` copies side by side (one per sample).

One ``NeuronGroup`` per IF population, of ``B × n`` neurons (copy ``b``'s neuron ``j`` is
``b·n + j``), one ``Synapses`` object per (source population, target population) pair
from :func:`ann2snn.backends.projections.projections` (``on_pre: I_syn_post += w``),
and the analog input as a constant current ``I_in`` (with the bias) into the
populations it reaches. The discrete update of docs/design.md §3 is the group's own code
(``run_regularly`` at the start of every step, clock dt = 1 step), not an integrated
differential equation, so nothing is approximated:

    start:      cur = I_syn + I_in;  v = v + cur  (integer mode: clip(v + cur, −L, L));
                v_in = v (v before reset);  I_syn = 0
    thresholds: v >= theta  (theta per neuron: the population's, or its channel's)
    synapses:   I_syn_post += w  for every spike of this step
    resets:     v = v − theta (SUBTRACT) or v = 0 (ZERO);  count += 1

A spike at step t is added to ``I_syn`` after the targets' thresholds of step t and
consumed at step t + 1: synaptic delay 1, for either reset (the input current is kept
apart from ``v``, so a reset to zero cannot wipe out what arrived in the same step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...ir import nodes as n
from ...ir.facts import populations
from ...ir.options import ResetMode
from ...ir.quant import if_thresholds
from ..projections import Projection, projections

_VARS = """v : 1
v_in : 1
cur : 1
I_syn : 1
I_in : 1
theta : 1 (constant)
count : 1
"""


@dataclass
class Built:
    """The Brian2 objects of one network of ``copies`` samples, and what feeds them."""

    net: object  #: brian2.Network
    groups: dict[str, object]  #: population -> NeuronGroup
    sizes: dict[str, int]  #: population -> neurons per copy
    copies: int
    inputs: dict[str, Projection]  #: population -> its projection (for I_in)
    v_init: dict[str, np.ndarray]  #: population -> v(0) per neuron of one copy
    monitors: dict[tuple[str, str], object] = field(default_factory=dict)


def thetas(graph, node: n.IF) -> np.ndarray:
    """θ of every neuron of ``node`` (flat, C order): per channel in integer mode."""
    shape = graph.shapes[node.name]
    th = np.asarray(if_thresholds(node), np.float64)
    if th.size > 1:
        th = th.reshape(-1, *(1,) * (len(shape) - 1))
    return np.broadcast_to(th, shape).reshape(-1).copy()


def initial_v(graph, node: n.IF, theta: np.ndarray) -> np.ndarray:
    """v(0): v0·θ, or in integer mode clamp(⌊v0·θ + 1/2⌋, −L, L) (sim/integer.py)."""
    if graph.quant is None:
        return node.v0 * theta
    lim = int(graph.quant.v_limit)
    return np.clip(np.floor(theta * node.v0 + 0.5), -lim, lim)


def _update(graph, node: n.IF) -> str:
    leak = f"v * {1.0 - node.leak!r}" if node.leak else "v"
    if graph.quant is not None:
        lim = float(graph.quant.v_limit)
        step = f"v = clip({leak} + cur, {-lim!r}, {lim!r})"
    else:
        step = f"v = {leak} + cur"
    return f"cur = I_syn + I_in\n{step}\nv_in = v\nI_syn = 0"


def build(graph, copies: int, record: tuple[str, ...] = ()) -> Built:
    """The Brian2 network of ``graph`` for ``copies`` samples at once; ``record`` names
    the kinds to monitor every step for every population ("current", "v_pre_reset",
    "v", "count"); the output population's readout variable is always monitored."""
    import brian2 as b2

    proj = projections(graph)
    inputs = set(graph.inputs)
    groups, sizes, v_init, objects = {}, {}, {}, []
    for node in populations(graph):
        size = math.prod(graph.shapes[node.name])
        sizes[node.name] = size
        kw = {}
        if not node.membrane_readout:
            kw["threshold"] = "v >= theta"
            reset = "v = v - theta" if node.reset is ResetMode.SUBTRACT else "v = 0"
            kw["reset"] = reset + "\ncount += 1"
        g = b2.NeuronGroup(copies * size, _VARS, method=None, **kw)
        g.run_regularly(_update(graph, node), when="start")
        theta = thetas(graph, node)
        g.theta = np.tile(theta, copies)
        v_init[node.name] = initial_v(graph, node, theta)
        groups[node.name] = g
        objects.append(g)
    for target, p in proj.items():
        for source, c in p.incoming.items():
            if source in inputs:
                continue
            keep = c.weight != 0
            pre, post, w = c.pre[keep], c.post[keep], c.weight[keep]
            offs = np.arange(copies, dtype=np.int64)[:, None]
            s = b2.Synapses(groups[source], groups[target], "w : 1 (constant)",
                            on_pre="I_syn_post += w")
            s.connect(i=(offs * c.n_pre + pre).reshape(-1),
                      j=(offs * c.n_post + post).reshape(-1))
            s.w = np.tile(w, copies)
            objects.append(s)
    built = Built(b2.Network(*objects), groups, sizes, copies, proj, v_init)
    out = graph[graph.output]
    readout = ("v",) if out.membrane_readout else ("count",)
    wanted = {(name, var) for name in groups for var in record}
    wanted |= {(out.name, var) for var in readout}
    for name, var in sorted(wanted):
        mon = b2.StateMonitor(groups[name], MONITORED[var], record=True,
                              when="end")
        built.monitors[(name, var)] = mon
        built.net.add(mon)
    return built


#: trace kind -> the group variable that holds it at the end of each step
MONITORED = {"current": "cur", "v_pre_reset": "v_in", "v": "v", "count": "count"}
