"""Operation counts: ANN multiply-accumulates, synaptic fan-out and synaptic operations.

Which nodes count is a node trait (``weighted`` for MACs, ``synaptic`` for synaptic
operations, ir/nodes.py); how each type counts is one handler per type in
:data:`MACS` and :data:`FANOUT`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..ir import Graph, Registry
from ..ir import nodes as n

CountFn = Callable[[Graph, n.Node], object]

#: ``weighted node type -> (graph, node) -> multiply-accumulates per sample``.
MACS: Registry[CountFn] = Registry("the MAC count")
#: ``synaptic node type -> (graph, node) -> synapses leaving each input element``.
FANOUT: Registry[CountFn] = Registry("the synaptic fan-out")


def macs_per_layer(graph: Graph) -> dict[str, int]:
    """Multiply-accumulates per sample of every weighted layer (Conv, ConvTranspose, Dense)."""
    return {x.name: MACS.get(x)(graph, x) for x in graph if x.weighted}


@MACS.register(n.Dense)
def _dense_macs(graph: Graph, x: n.Dense) -> int:
    return int(x.weight.shape[0] * x.weight.shape[1])


@MACS.register(n.Conv)
def _conv_macs(graph: Graph, x: n.Conv) -> int:
    """Per output element, one MAC per weight of its kernel."""
    return int(math.prod(graph.shapes[x.name]) * math.prod(x.weight.shape[1:]))


@MACS.register(n.ConvTranspose)
def _conv_transpose_macs(graph: Graph, x: n.ConvTranspose) -> int:
    """Per input element, one MAC per weight it scatters."""
    return int(math.prod(graph.shapes[x.inputs[0]]) * math.prod(x.weight.shape[1:]))


def fanout(graph: Graph, name: str) -> np.ndarray:
    """Synapses leaving each input element of the synaptic op ``name``: for element j,
    the number of (output, weight) pairs with a non-zero weight that j feeds. Shape: the
    op's input shape; float64 holding integers.

    Dense: column counts of W ≠ 0. Conv / ConvTranspose: the gradient of Σ y with respect
    to x, computed with the binary weights [W ≠ 0] (exact integer sums in float64).
    AvgPool: the number of pooling windows covering j (padding and ceil mode included).
    Scale: 1 where the factor is non-zero. Another node: :class:`MissingHandler`.
    """
    node = graph[name]
    return FANOUT.get(node)(graph, node)


def _in_shape(graph: Graph, node: n.Node) -> tuple[int, ...]:
    return tuple(graph.shapes[node.inputs[0]])


@FANOUT.register(n.Dense)
def _dense_fanout(graph: Graph, node: n.Dense) -> np.ndarray:
    return (node.weight != 0).sum(0).astype(np.float64).reshape(_in_shape(graph, node))


@FANOUT.register(n.Scale)
def _scale_fanout(graph: Graph, node: n.Scale) -> np.ndarray:
    return np.broadcast_to(node.factor != 0, _in_shape(graph, node)).astype(np.float64)


@FANOUT.register(n.AvgPool)
def _avgpool_fanout(graph: Graph, node: n.AvgPool) -> np.ndarray:
    return _windows_covering(node, _in_shape(graph, node), tuple(graph.shapes[node.name]))


@FANOUT.register(n.Conv, n.ConvTranspose)
def _conv_fanout(graph: Graph, node: n.Conv | n.ConvTranspose) -> np.ndarray:
    import dataclasses

    import torch

    from ..sim.ops import GraphParams, apply

    in_shape = _in_shape(graph, node)
    binary = dataclasses.replace(node, inputs=("x",), weight=(node.weight != 0).astype(
        np.float32), bias=None)
    params = GraphParams(Graph([n.Input("x", shape=in_shape), binary]), torch.float64)
    x = torch.ones((1, *in_shape), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():  # callers may run under no_grad (the simulator does)
        (g,) = torch.autograd.grad(apply(binary, [x], params).sum(), x)
    return g[0].numpy().round()


def _windows_covering(node, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
                      ) -> np.ndarray:
    """Per input position, how many pooling windows include it (separable per axis)."""
    fan = np.ones(in_shape[1:], dtype=np.float64)
    nd = len(node.kernel)
    for ax in range(nd):
        size, k, s, p = in_shape[1 + ax], node.kernel[ax], node.stride[ax], node.padding[ax]
        cover = np.zeros(size)
        for o in range(out_shape[1 + ax]):
            lo = o * s - p
            cover[max(lo, 0):max(min(lo + k, size), 0)] += 1
        shape = [1] * nd
        shape[ax] = size
        fan = fan * cover.reshape(shape)
    return np.broadcast_to(fan, in_shape).copy()


def synaptic_ops(graph: Graph, name: str, events: np.ndarray, spikes: bool = False
                 ) -> np.ndarray:
    """Synaptic operations per step of op ``name`` for input ``events`` (T, B, *in_shape):

        SOP(t) = Σ_b Σ_j [events[t, b, j] ≠ 0] · fanout_j

    i.e. every spike (or non-zero input, for a non-binary input) is delivered once along
    each of its synapses, whatever its value. ``spikes``: the events are spike counts
    (burst spikes, :func:`ann2snn.ir.facts.burst_nodes`): m spikes are delivered m times,
    SOP(t) = Σ_b Σ_j events[t, b, j] · fanout_j. Returns float64 (T,)."""
    ev = np.asarray(events)
    t, b = ev.shape[:2]
    fan = fanout(graph, name).reshape(-1)
    active = ev.reshape(t, b, -1).sum(1) if spikes else (ev.reshape(t, b, -1) != 0).sum(1)
    return np.einsum("tj,j->t", active.astype(np.float64), fan)
