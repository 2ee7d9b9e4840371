"""Operation counts: ANN multiply-accumulates, synaptic fan-out and synaptic operations."""

from __future__ import annotations

import math

import numpy as np

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


#: Synaptic operations whose events are counted (the simulator's choice, DESIGN §5).
SYNAPTIC_OPS = (n.Conv, n.ConvTranspose, n.Dense, n.AvgPool, n.Scale)


def fanout(graph: Graph, name: str) -> np.ndarray:
    """Synapses leaving each input element of the synaptic op ``name``: for element j,
    the number of (output, weight) pairs with a non-zero weight that j feeds. Shape: the
    op's input shape; float64 holding integers.

    Dense: column counts of W ≠ 0. Conv / ConvTranspose: the gradient of Σ y with respect
    to x, computed with the binary weights [W ≠ 0] (exact integer sums in float64).
    AvgPool: the number of pooling windows covering j (padding and ceil mode included).
    Scale: 1 where the factor is non-zero.
    """
    node = graph[name]
    in_shape = tuple(graph.shapes[node.inputs[0]])
    if isinstance(node, n.Dense):
        return (node.weight != 0).sum(0).astype(np.float64).reshape(in_shape)
    if isinstance(node, n.Scale):
        return np.broadcast_to(node.factor != 0, in_shape).astype(np.float64)
    if isinstance(node, n.AvgPool):
        return _windows_covering(node, in_shape, tuple(graph.shapes[name]))
    if isinstance(node, (n.Conv, n.ConvTranspose)):
        import dataclasses

        import torch

        from ..sim.ops import GraphParams, apply

        binary = dataclasses.replace(node, inputs=("x",), weight=(node.weight != 0).astype(
            np.float32), bias=None)
        params = GraphParams(Graph([n.Input("x", shape=in_shape), binary]), torch.float64)
        x = torch.ones((1, *in_shape), dtype=torch.float64, requires_grad=True)
        with torch.enable_grad():  # callers may run under no_grad (the simulator does)
            (g,) = torch.autograd.grad(apply(binary, [x], params).sum(), x)
        return g[0].numpy().round()
    raise TypeError(f"{node.op} '{name}' is not a synaptic operation")


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


def synaptic_ops(graph: Graph, name: str, events: np.ndarray) -> np.ndarray:
    """Synaptic operations per step of op ``name`` for input ``events`` (T, B, *in_shape):

        SOP(t) = Σ_b Σ_j [events[t, b, j] ≠ 0] · fanout_j

    i.e. every spike (or non-zero input, for a non-binary input) is delivered once along
    each of its synapses, whatever its value. Returns float64 (T,)."""
    ev = np.asarray(events)
    t, b = ev.shape[:2]
    fan = fanout(graph, name).reshape(-1)
    active = (ev.reshape(t, b, -1) != 0).sum(1)
    return np.einsum("tj,j->t", active.astype(np.float64), fan)
