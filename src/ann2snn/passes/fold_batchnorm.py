"""Fold every BatchNorm into a neighbouring weighted layer, exactly.

A BatchNorm directly after a Conv/Dense/ConvTranspose (its only consumer) is folded
backward: ``W' = W·scale``, ``b' = b·scale + shift``. Otherwise (for example after the
ReLU, or on the input) it is folded forward into the next weighted layer, moving past
Flatten/Reshape/Identity, MaxPool (when every scale > 0) and unpadded AvgPool, which all
commute with a per-channel affine map: ``W'[o,i] = W[o,i]·scale[i]`` and the shift
enters the bias. For a zero-padded convolution the border outputs see fewer shifted
inputs, so the bias becomes a full map ``(C_out, *spatial)`` computed by convolving
the shift map: exact everywhere, not only in the interior.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..errors import ConversionError
from ..ir import Graph
from ..ir import nodes as n
from ..sim.ops import GraphParams, apply


def fold_batchnorm(graph: Graph) -> Graph:
    for bn in graph.of_type(n.BatchNorm):
        graph = _fold_one(graph, graph[bn.name])
    return graph


def _fold_one(graph: Graph, bn: n.BatchNorm) -> Graph:
    (src,) = bn.inputs
    prev = graph[src]
    if prev.weighted and len(graph.consumers(src)) == 1:
        return _fold_backward(graph, bn, prev)
    # forward: walk the single-consumer chain of commuting ops
    chain, cur = [], bn.name
    while True:
        users = graph.consumers(cur)
        if len(users) != 1 or cur == graph.output:
            break
        u = users[0]
        if u.weighted and not isinstance(u, n.ConvTranspose):
            return _fold_forward(graph, bn, chain, u)
        if not _commutes(u, bn):
            break
        chain.append(u)
        cur = u.name
    raise ConversionError(
        f"BatchNorm '{bn.name}' cannot be folded: it follows '{src}' ({prev.op}) and is not "
        "followed by a Conv or Linear layer through pass-through layers only. Place batch norm "
        "directly after a Conv/Linear layer, or directly before one.")


def _commutes(u: n.Node, bn: n.BatchNorm) -> bool:
    """Whether ``u`` commutes with the per-channel affine map of ``bn``: a view of its
    input (Flatten, Reshape, Identity), a max pool when every scale is positive, an
    unpadded average pool."""
    if isinstance(u, n.MaxPool):
        return bool(np.all(bn.scale > 0))
    if isinstance(u, n.AvgPool):
        return not any(u.padding)
    return u.alias


def _fold_backward(graph: Graph, bn: n.BatchNorm, op) -> Graph:
    s, t = bn.scale.astype(np.float64), bn.shift.astype(np.float64)
    w = op.weight.astype(np.float64)
    if isinstance(op, n.ConvTranspose):
        g = op.groups
        wv = w.reshape(g, w.shape[0] // g, w.shape[1], *w.shape[2:])
        wv = wv * s.reshape(g, 1, -1, *([1] * (w.ndim - 2)))
        w = wv.reshape(w.shape)
    else:
        w = w * s.reshape(-1, *([1] * (w.ndim - 1)))
    b = np.zeros(w.shape[0] if not isinstance(op, n.ConvTranspose) else len(s)) \
        if op.bias is None else op.bias.astype(np.float64)
    b = b * s.reshape((-1,) + (1,) * (b.ndim - 1)) + t.reshape((-1,) + (1,) * (b.ndim - 1))
    folded = dataclasses.replace(op, weight=w.astype(np.float32), bias=b.astype(np.float32))
    g = graph.replace([folded if x.name == op.name else x for x in graph])
    return g.bypass(bn.name)


def _fold_forward(graph: Graph, bn: n.BatchNorm, chain: list, op) -> Graph:
    # per-element scale/shift maps at op's input: push the per-channel maps through the chain
    shape = graph.shapes[bn.name]
    bshape = (-1,) + (1,) * (len(shape) - 1)
    s_map = np.broadcast_to(bn.scale.reshape(bshape), shape).astype(np.float64)
    t_map = np.broadcast_to(bn.shift.reshape(bshape), shape).astype(np.float64)
    for u in chain:
        out = graph.shapes[u.name]
        if not u.alias:  # a pool: one value per channel
            s_map = np.broadcast_to(s_map[(slice(None),) + (0,) * (len(out) - 1)]
                                    .reshape(bshape), out)
            t_map = np.broadcast_to(t_map[(slice(None),) + (0,) * (len(out) - 1)]
                                    .reshape(bshape), out)
        else:
            s_map, t_map = s_map.reshape(out), t_map.reshape(out)
    w = op.weight.astype(np.float64)
    bias = np.zeros(w.shape[0]) if op.bias is None else op.bias.astype(np.float64)
    if isinstance(op, n.Dense):
        w2 = w * s_map.reshape(1, -1)
        b2 = bias + w @ t_map.reshape(-1)
    else:
        s_c = s_map.reshape(s_map.shape[0], -1)
        if not np.allclose(s_c, s_c[:, :1]):
            raise ConversionError(f"BatchNorm '{bn.name}' cannot be folded into '{op.name}'")
        s_c = s_c[:, 0]
        g = op.groups
        cin_g = w.shape[1]
        w2 = w * s_c.reshape(g, 1, cin_g).repeat(w.shape[0] // g, 0).reshape(
            w.shape[0], cin_g, *([1] * op.ndim))
        # exact bias map: convolve the shift map with the original weights
        probe = dataclasses.replace(op, bias=None, inputs=("x",))
        params = GraphParams(Graph([n.Input("x", shape=t_map.shape), probe], probe.name),
                             dtype=torch.float64)
        with torch.no_grad():
            bmap = apply(probe, [torch.as_tensor(np.ascontiguousarray(t_map))[None]],
                         params)[0].numpy()
        bmap = bmap + (bias.reshape((-1,) + (1,) * op.ndim) if bias.ndim == 1 else bias)
        flat = bmap.reshape(bmap.shape[0], -1)
        b2 = flat[:, 0] if np.allclose(flat, flat[:, :1], rtol=0, atol=1e-7) else bmap
    folded = dataclasses.replace(op, weight=w2.astype(np.float32), bias=b2.astype(np.float32))
    g = graph.replace([folded if x.name == op.name else x for x in graph])
    return g.bypass(bn.name)
