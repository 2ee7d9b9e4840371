"""Normalization, per node type (passes/normalize.py drives them): two registries.

- :data:`FORWARD`: ``rule(ctx, node, ins) -> node``, given the scale arrays ``ins`` its
  inputs carry, records the scale of the node's output in ``ctx.scale`` and returns the
  node rewritten for it (weights rescaled, a Scale node inserted before it, ...).
- :data:`REQUIRED`: ``rule(graph, node, s) -> [(input, scale)]``, the backward pass: the
  scale each input must carry for the output to carry ``s``. A node type without a rule
  dictates nothing to its inputs (weighted layers absorb any scale).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConversionError
from ..ir import Graph, Registry
from ..ir import nodes as n

FORWARD: Registry = Registry("normalization")
REQUIRED: Registry = Registry("normalization (required scales)")


class Context:
    """The forward pass's state: the scales chosen so far, the new nodes, the renames."""

    def __init__(self, graph: Graph, lam: dict[str, np.ndarray], req: dict[str, np.ndarray],
                 input_scale: float):
        self.graph, self.lam, self.req, self.input_scale = graph, lam, req, input_scale
        self.scale: dict[str, np.ndarray] = {}
        self.new: list[n.Node] = []
        self.rename: dict[str, str] = {}

    def src(self, i: str) -> str:
        return self.rename.get(i, i)

    def rescale(self, i: str, have: np.ndarray, want: np.ndarray, tag: str) -> str:
        """Insert a Scale node turning scale ``have`` into ``want`` on tensor i if needed."""
        shape = self.graph.shapes[i]
        h, w = np.broadcast_to(have, shape), np.broadcast_to(want, shape)
        if np.allclose(h, w, rtol=1e-7):
            return self.src(i)
        node = n.Scale(f"{i}.scale_{tag}", (self.src(i),),
                       factor=uniform(np.asarray(h / w)).astype(np.float32))
        self.new.append(node)
        return node.name


def uniform(s: np.ndarray) -> np.ndarray:
    """Collapse a scale array to shape (1,...) when all its values are equal, and to
    (C, 1, ...) when it is constant over every non-channel axis."""
    if s.size > 1 and np.all(s == s.flat[0]):
        return np.full((1,) * s.ndim, s.flat[0])
    if s.ndim > 1 and s.shape[0] > 1 and np.all(s == s.reshape(s.shape[0], -1)[:, :1].reshape(
            (s.shape[0],) + (1,) * (s.ndim - 1))):
        return np.ascontiguousarray(s.reshape(s.shape[0], -1)[:, 0].reshape(
            (s.shape[0],) + (1,) * (s.ndim - 1)))
    return s


def per_channel(s: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    """Scale as a (C,) vector; raises if it varies over non-channel axes."""
    full = np.broadcast_to(s, shape).reshape(shape[0], -1)
    if not np.allclose(full, full[:, :1], rtol=1e-6):
        raise ConversionError(f"cannot normalize {what}: its input scale varies across "
                              "positions; use per-layer normalization")
    return full[:, 0]


# -- forward: the scale of each output, and the rewritten node ------------------------


@FORWARD.register(n.Input)
def _input(ctx: Context, node: n.Input, ins) -> n.Node:
    ctx.scale[node.name] = np.full((1,) * len(ctx.graph.shapes[node.name]),
                                   float(ctx.input_scale))
    return node


@FORWARD.register(n.Conv, n.ConvTranspose, n.Dense)
def _weighted(ctx: Context, node, ins) -> n.Node:
    s_out = ctx.req.get(node.name, ctx.lam[node.name])
    ctx.scale[node.name] = s_out
    return scale_weights(node, ins[0], s_out, ctx.graph)


@FORWARD.register(n.ReLU)
def _relu(ctx: Context, node: n.ReLU, ins) -> n.Node:
    want = ctx.lam[node.name]
    inp = ctx.rescale(node.inputs[0], ins[0], want, node.name.replace(".", "_"))
    mv = node.max_value
    if mv is not None:
        mv = float(mv / want.flat[0]) if want.size == 1 else None
    ctx.scale[node.name] = want
    return dataclasses.replace(node, inputs=(inp,), max_value=mv)


@FORWARD.register(n.QCFS)
def _qcfs(ctx: Context, node: n.QCFS, ins) -> n.Node:
    """λ is this layer's scale (normalize.py), so the normalized activation has λ = 1;
    with burst spikes the scale is λ/k and the normalized λ is k (the same function:
    the normalized ANN stays the trained one)."""
    want = ctx.lam[node.name]
    inp = ctx.rescale(node.inputs[0], ins[0], want, node.name.replace(".", "_"))
    ctx.scale[node.name] = want
    lam = np.asarray(node.lam, np.float64).reshape(-1) / np.asarray(want).reshape(-1)
    return dataclasses.replace(node, inputs=(inp,), lam=lam.astype(node.lam.dtype))


@FORWARD.register(n.Add)
def _add(ctx: Context, node: n.Add, ins) -> n.Node:
    want = ctx.req.get(node.name, ins[0])
    tag = node.name.replace(".", "_")
    ctx.scale[node.name] = want
    return dataclasses.replace(node, inputs=tuple(
        ctx.rescale(i, s, want, tag) for i, s in zip(node.inputs, ins)))


@FORWARD.register(n.Concat)
def _concat(ctx: Context, node: n.Concat, ins) -> n.Node:
    parts = [np.broadcast_to(s, ctx.graph.shapes[i]) for i, s in zip(node.inputs, ins)]
    ctx.scale[node.name] = uniform(np.concatenate(parts, axis=node.axis - 1))
    return node


@FORWARD.register(n.Flatten, n.Reshape, n.Transpose)
def _reshape(ctx: Context, node, ins) -> n.Node:
    full = np.broadcast_to(ins[0], ctx.graph.shapes[node.inputs[0]])
    if isinstance(node, n.Transpose):
        full = np.transpose(full, [p - 1 for p in node.perm[1:]])
    ctx.scale[node.name] = uniform(np.ascontiguousarray(full).reshape(
        ctx.graph.shapes[node.name]))
    return node


@FORWARD.register(n.AvgPool, n.MaxPool, n.Upsample, n.Pad, n.Identity)
def _channel(ctx: Context, node, ins) -> n.Node:
    """Per-channel operations: a per-channel scale on the input passes to the output."""
    s = ins[0]
    if s.size > 1:
        s = per_channel(s, ctx.graph.shapes[node.inputs[0]], f"{node.op} '{node.name}'")
        s = s.reshape((-1,) + (1,) * (len(ctx.graph.shapes[node.name]) - 1))
    ctx.scale[node.name] = s
    return node


@FORWARD.register(n.GlobalAvgPool)
def _global_avgpool(ctx: Context, node: n.GlobalAvgPool, ins) -> n.Node:
    s = ins[0]
    ctx.scale[node.name] = (per_channel(s, ctx.graph.shapes[node.inputs[0]], f"'{node.name}'")
                            if s.size > 1 else np.ones(1) * s.flat[0])
    return node


@FORWARD.register(n.Softmax, n.Scale)
def _keep(ctx: Context, node, ins) -> n.Node:
    ctx.scale[node.name] = ins[0]
    return node


# -- backward: what each input must carry ---------------------------------------------


@REQUIRED.register(n.Add)
def _req_add(graph: Graph, node: n.Add, s: np.ndarray) -> list:
    return [(i, s) for i in node.inputs]


@REQUIRED.register(n.AvgPool, n.MaxPool, n.Upsample, n.Pad, n.Identity)
def _req_channel(graph: Graph, node, s: np.ndarray) -> list:
    rank = len(graph.shapes[node.name])
    if s.size == 1 or s.ndim == rank and s.shape[1:] == (1,) * (s.ndim - 1):
        return [(node.inputs[0], s)]
    return []


@REQUIRED.register(n.GlobalAvgPool)
def _req_global_avgpool(graph: Graph, node: n.GlobalAvgPool, s: np.ndarray) -> list:
    rank = len(graph.shapes[node.inputs[0]])
    return [(node.inputs[0], s.reshape((-1,) + (1,) * (rank - 1)))]


@REQUIRED.register(n.Flatten, n.Reshape)
def _req_flatten(graph: Graph, node, s: np.ndarray) -> list:
    if s.size != 1:
        return []
    return [(node.inputs[0], s.reshape((1,) * len(graph.shapes[node.inputs[0]])))]


# -- weighted layers -------------------------------------------------------------------


def scale_weights(node, s_in: np.ndarray, s_out: np.ndarray, graph: Graph):
    """``W'[o, i] = W[o, i]·s_in[i]/s_out[o]``, ``b' = b/s_out``, in float64."""
    in_shape = graph.shapes[node.inputs[0]]
    out_shape = graph.shapes[node.name]
    w = node.weight.astype(np.float64)
    if isinstance(node, n.Dense):
        si = np.broadcast_to(s_in, in_shape).reshape(-1)
        so = np.broadcast_to(s_out, out_shape).reshape(-1)
        w = w * si[None, :] / so[:, None]
        so_b = so
    else:
        what = f"{node.op} '{node.name}'"
        si = per_channel(s_in, in_shape, what)
        so = per_channel(s_out, out_shape, what)
        g = node.groups
        kdims = (1,) * node.ndim
        if isinstance(node, n.Conv):
            cin_g = w.shape[1]
            si_w = si.reshape(g, 1, cin_g).repeat(w.shape[0] // g, 0).reshape(w.shape[0], cin_g)
            w = w * si_w.reshape(w.shape[:2] + kdims) / so.reshape((-1, 1) + kdims)
        else:  # ConvTranspose: weight (C_in, C_out/g, k)
            cout_g = w.shape[1]
            so_w = so.reshape(g, 1, cout_g).repeat(w.shape[0] // g, 0).reshape(w.shape[0], cout_g)
            w = w * si.reshape((-1, 1) + kdims) / so_w.reshape(w.shape[:2] + kdims)
        so_b = so
    bias = node.bias
    if bias is not None:
        b = bias.astype(np.float64)
        b = b / so_b.reshape((-1,) + (1,) * (b.ndim - 1))
        bias = b.astype(np.float32)
    return dataclasses.replace(node, weight=w.astype(np.float32), bias=bias)
