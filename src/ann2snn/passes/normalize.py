"""Data-based weight/threshold balancing (DESIGN §4).

For each neuron population l (every ReLU, and the output layer) the scale λ_l is the
p-th percentile of the layer's *non-zero* positive activations over the calibration set
(snntoolbox's rule; p = 99.9 by default), or their maximum (Diehl 2015), per layer or
per channel. Every tensor then carries a scale array s (broadcastable to its shape):
weighted layers map their input scale to the scale their consumer needs,

    W'[o, i] = W[o, i] · s_in[i] / s_out[o],      b'[o] = b[o] / s_out[o],

and where a tensor of one scale must join one of another without a weighted layer in
between (an identity shortcut into an Add), a Scale node with factor s_in / s_out is
inserted: the synapse weight λ_in / λ_out of DESIGN §4. The result computes the same
function up to a positive per-channel factor at every population, which is what lets
IF neurons with threshold 1 represent ReLU activations in [0, 1] as firing rates.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ..errors import ConversionError
from ..ir import Graph
from ..ir import nodes as n
from ..sim.ops import ann_forward

log = logging.getLogger(__name__)
_MAX_VALUES = 20_000_000  # activations kept per layer for the percentile (random subsample)
_CHANNEL_OPS = (n.AvgPool, n.MaxPool, n.Upsample, n.Pad, n.Identity)


def output_population(graph: Graph) -> tuple[str, bool]:
    """The node whose output becomes the output population, and whether a softmax sat on it."""
    out = graph[graph.output]
    if isinstance(out, n.Softmax):
        return out.inputs[0], True
    return graph.output, False


def populations(graph: Graph) -> list[str]:
    """Nodes whose outputs become neuron populations: every ReLU and the output."""
    out, _ = output_population(graph)
    pops = [x.name for x in graph.of_type(n.ReLU)]
    return pops + ([out] if out not in pops else [])


def layer_scale(acts: np.ndarray, method: str, percentile: float, per_channel: bool,
                clip_min: float = 1e-6) -> np.ndarray:
    """λ for one layer from activations ``(N, C, ...)``; shape ``(1,)*r`` or ``(C,1,...)``."""
    rank = acts.ndim - 1
    if per_channel:
        c = acts.shape[1]
        per = np.moveaxis(acts, 1, 0).reshape(c, -1)
        lam = np.array([_stat(row, method, percentile) for row in per])
        return np.maximum(lam, clip_min).reshape((c,) + (1,) * (rank - 1)).astype(np.float64)
    return np.full((1,) * rank, max(_stat(acts.ravel(), method, percentile), clip_min))


def _stat(values: np.ndarray, method: str, percentile: float) -> float:
    pos = values[values > 0]
    if pos.size == 0:
        return 1.0  # a dead layer/channel: any positive scale is exact
    if method == "max":
        return float(pos.max())
    return float(np.percentile(pos, percentile))


def _uniform(s: np.ndarray) -> np.ndarray:
    """Collapse a scale array to shape (1,...) when all its values are equal, and to
    (C, 1, ...) when it is constant over every non-channel axis."""
    if s.size > 1 and np.all(s == s.flat[0]):
        return np.full((1,) * s.ndim, s.flat[0])
    if s.ndim > 1 and s.shape[0] > 1 and np.all(s == s.reshape(s.shape[0], -1)[:, :1].reshape(
            (s.shape[0],) + (1,) * (s.ndim - 1))):
        return np.ascontiguousarray(s.reshape(s.shape[0], -1)[:, 0].reshape(
            (s.shape[0],) + (1,) * (s.ndim - 1)))
    return s


def _per_channel(s: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    """Scale as a (C,) vector; raises if it varies over non-channel axes."""
    full = np.broadcast_to(s, shape).reshape(shape[0], -1)
    if not np.allclose(full, full[:, :1], rtol=1e-6):
        raise ConversionError(f"cannot normalize {what}: its input scale varies across "
                              "positions; use per-layer normalization")
    return full[:, 0]


def _required(graph: Graph, lam: dict[str, np.ndarray], out: str) -> dict[str, np.ndarray]:
    """Backward pass: the scale each tensor must have for its consumer."""
    req: dict[str, np.ndarray] = {}
    for r in graph.of_type(n.ReLU):
        req.setdefault(r.inputs[0], lam[r.name])
    if not isinstance(graph[out], n.ReLU):
        req[out] = lam[out]
    for node in reversed(list(graph)):
        if node.name not in req or isinstance(node, (n.Input, n.ReLU)) or node.weighted:
            continue
        s = req[node.name]
        if isinstance(node, n.Add):
            targets = [(i, s) for i in node.inputs]
        elif isinstance(node, _CHANNEL_OPS) and (s.size == 1 or s.ndim == len(
                graph.shapes[node.name]) and s.shape[1:] == (1,) * (s.ndim - 1)):
            targets = [(node.inputs[0], s)]
        elif isinstance(node, n.GlobalAvgPool):
            rank = len(graph.shapes[node.inputs[0]])
            targets = [(node.inputs[0], s.reshape((-1,) + (1,) * (rank - 1)))]
        elif isinstance(node, (n.Flatten, n.Reshape)) and s.size == 1:
            rank = len(graph.shapes[node.inputs[0]])
            targets = [(node.inputs[0], s.reshape((1,) * rank))]
        else:
            continue
        for i, si in targets:
            if len(graph.consumers(i)) == 1 and i not in req:
                req[i] = si
    return req


def normalize(graph: Graph, calibration: np.ndarray, method: str = "percentile",
              percentile: float = 99.9, per_channel: bool = False, input_scale: float = 1.0,
              batch_size: int = 256) -> tuple[Graph, dict[str, np.ndarray]]:
    """Return the normalized graph and the scale λ of every population."""
    if method not in ("percentile", "max"):
        raise ConversionError(f"normalization method {method!r}: use 'percentile' or 'max'")
    if not 0 < percentile <= 100:
        raise ConversionError(f"percentile {percentile} must be in (0, 100]")
    out, _ = output_population(graph)
    pops = populations(graph)
    # first find what is required from population scales alone: needs λ first, so record
    # populations plus every weighted layer (for those whose scale nobody dictates)
    record = set(pops) | {x.name for x in graph if x.weighted}
    _, acts = ann_forward(graph, calibration, batch_size, record)
    rng = np.random.default_rng(0)
    lam: dict[str, np.ndarray] = {}
    for name in record:
        a = acts[name]
        if a.size > _MAX_VALUES:
            a = a[rng.choice(len(a), max(1, _MAX_VALUES // int(np.prod(a.shape[1:]))), False)]
        # the output keeps one scale: per-class scales would change which class wins
        lam[name] = layer_scale(a, method, percentile, per_channel and a.ndim >= 2
                                and name != out)
    req = _required(graph, lam, out)

    scale: dict[str, np.ndarray] = {}
    new: list[n.Node] = []
    rename: dict[str, str] = {}

    def src(i: str) -> str:
        return rename.get(i, i)

    def rescale(i: str, have: np.ndarray, want: np.ndarray, tag: str) -> str:
        """Insert a Scale node turning scale `have` into `want` on tensor i if needed."""
        shape = graph.shapes[i]
        h, w = np.broadcast_to(have, shape), np.broadcast_to(want, shape)
        if np.allclose(h, w, rtol=1e-7):
            return src(i)
        node = n.Scale(f"{i}.scale_{tag}", (src(i),),
                       factor=_uniform(np.asarray(h / w)).astype(np.float32))
        new.append(node)
        return node.name

    for node in graph:
        shape = graph.shapes[node.name]
        rank = len(shape)
        if isinstance(node, n.Input):
            scale[node.name] = np.full((1,) * rank, float(input_scale))
            new.append(node)
            continue
        ins = [scale[i] for i in node.inputs]
        if node.weighted:
            s_in = ins[0]
            s_out = req.get(node.name, lam[node.name])
            node = _scale_weights(node, s_in, s_out, graph)
            scale[node.name] = s_out
        elif isinstance(node, n.ReLU):
            want = lam[node.name]
            inp = rescale(node.inputs[0], ins[0], want, node.name.replace(".", "_"))
            mv = node.max_value
            if mv is not None:
                mv = float(mv / want.flat[0]) if want.size == 1 else None
            node = dataclasses.replace(node, inputs=(inp,), max_value=mv)
            scale[node.name] = want
        elif isinstance(node, n.Add):
            want = req.get(node.name, ins[0])
            node = dataclasses.replace(node, inputs=tuple(
                rescale(i, s, want, node.name.replace(".", "_")) for i, s in zip(node.inputs, ins)))
            scale[node.name] = want
        elif isinstance(node, n.Concat):
            parts = [np.broadcast_to(s, graph.shapes[i]) for i, s in zip(node.inputs, ins)]
            scale[node.name] = _uniform(np.concatenate(parts, axis=node.axis - 1))
        elif isinstance(node, (n.Flatten, n.Reshape, n.Transpose)):
            full = np.broadcast_to(ins[0], graph.shapes[node.inputs[0]])
            if isinstance(node, n.Transpose):
                full = np.transpose(full, [p - 1 for p in node.perm[1:]])
            scale[node.name] = _uniform(np.ascontiguousarray(full).reshape(shape))
        elif isinstance(node, _CHANNEL_OPS):
            s = ins[0]
            if s.size > 1:
                s = _per_channel(s, graph.shapes[node.inputs[0]], f"{node.op} '{node.name}'")
                s = s.reshape((-1,) + (1,) * (rank - 1))
            scale[node.name] = s
        elif isinstance(node, n.GlobalAvgPool):
            s = ins[0]
            scale[node.name] = (_per_channel(s, graph.shapes[node.inputs[0]], f"'{node.name}'")
                                if s.size > 1 else np.ones(1) * s.flat[0])
        elif isinstance(node, (n.Softmax, n.Scale)):
            scale[node.name] = ins[0]
        else:
            raise ConversionError(f"normalization does not support {node.op} '{node.name}'")
        node = dataclasses.replace(node, inputs=tuple(src(i) for i in node.inputs)) \
            if not isinstance(node, (n.ReLU, n.Add)) else node
        new.append(node)
        if node.name == out and not isinstance(node, n.ReLU):
            target = lam[out]
            if not np.allclose(np.broadcast_to(scale[out], shape),
                               np.broadcast_to(target, shape), rtol=1e-7):
                tag = rescale(out, scale[out], target, "out")
                rename[out] = tag
                scale[out] = target
    output = rename.get(graph.output, graph.output)
    lambdas = {p: lam[p] for p in pops}
    meta = dict(graph.meta)
    meta["normalization"] = {
        "method": method, "percentile": percentile, "per_channel": per_channel,
        "input_scale": input_scale, "num_calibration_samples": int(len(calibration)),
        "scales": {k: (v.ravel().tolist() if v.size > 1 else float(v.flat[0]))
                   for k, v in lambdas.items()},
    }
    return Graph(new, output, meta), lambdas


def _scale_weights(node, s_in: np.ndarray, s_out: np.ndarray, graph: Graph):
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
        si = _per_channel(s_in, in_shape, what)
        so = _per_channel(s_out, out_shape, what)
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
