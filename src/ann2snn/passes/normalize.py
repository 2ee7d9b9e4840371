"""Data-based weight/threshold balancing (docs/design.md §4).

For each neuron population l (every ReLU, and the output layer) the scale λ_l is the
p-th percentile of the layer's *non-zero* positive activations over the calibration set
(snntoolbox's rule; p = 99.9 by default), or their maximum (Diehl 2015), per layer or
per channel. Every tensor then carries a scale array s (broadcastable to its shape):
weighted layers map their input scale to the scale their consumer needs,

    W'[o, i] = W[o, i] · s_in[i] / s_out[o],      b'[o] = b[o] / s_out[o],

and where a tensor of one scale must join one of another without a weighted layer in
between (an identity shortcut into an Add), a Scale node with factor s_in / s_out is
inserted: the synapse weight λ_in / λ_out of docs/design.md §4. The result computes the same
function up to a positive per-channel factor at every population, which is what lets
IF neurons with threshold 1 represent ReLU activations in [0, 1] as firing rates.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ..errors import ConversionError, UnsupportedLayerError
from ..ir import Graph, NormMethod, coerce
from ..ir import nodes as n
from ..sim.ops import ann_forward
from .normalize_rules import FORWARD, REQUIRED, Context

log = logging.getLogger(__name__)
_MAX_VALUES = 20_000_000  # activations kept per layer for the percentile (random subsample)


def output_population(graph: Graph) -> tuple[str, bool]:
    """The node whose output becomes the output population, and whether a softmax sat on it."""
    out = graph[graph.output]
    if isinstance(out, n.Softmax):
        return out.inputs[0], True
    return graph.output, False


def populations(graph: Graph) -> list[str]:
    """Nodes whose outputs become neuron populations: every ReLU (and QCFS) and the output."""
    out, _ = output_population(graph)
    pops = [x.name for x in graph if x.rectifier]
    return pops + ([out] if out not in pops else [])


def layer_scale(acts: np.ndarray, method: NormMethod | str, percentile: float,
                per_channel: bool, clip_min: float = 1e-6) -> np.ndarray:
    """λ for one layer from activations ``(N, C, ...)``; shape ``(1,)*r`` or ``(C,1,...)``."""
    method = coerce(NormMethod, method, "normalization method")
    rank = acts.ndim - 1
    if per_channel:
        c = acts.shape[1]
        per = np.moveaxis(acts, 1, 0).reshape(c, -1)
        lam = np.array([_stat(row, method, percentile) for row in per])
        return np.maximum(lam, clip_min).reshape((c,) + (1,) * (rank - 1)).astype(np.float64)
    return np.full((1,) * rank, max(_stat(acts.ravel(), method, percentile), clip_min))


def _stat(values: np.ndarray, method: NormMethod, percentile: float) -> float:
    pos = values[values > 0]
    if pos.size == 0:
        return 1.0  # a dead layer/channel: any positive scale is exact
    if method is NormMethod.MAX:
        return float(pos.max())
    return float(np.percentile(pos, percentile))


def _required(graph: Graph, lam: dict[str, np.ndarray], out: str) -> dict[str, np.ndarray]:
    """Backward pass: the scale each tensor must have for its consumer."""
    req: dict[str, np.ndarray] = {}
    for r in graph:
        if r.rectifier:
            req.setdefault(r.inputs[0], lam[r.name])
    if not graph[out].rectifier:
        req[out] = lam[out]
    for node in reversed(list(graph)):
        if node.name not in req or node not in REQUIRED:
            continue
        for i, si in REQUIRED.get(node)(graph, node, req[node.name]):
            if len(graph.consumers(i)) == 1 and i not in req:
                req[i] = si
    return req


def normalize(graph: Graph, calibration: np.ndarray,
              method: NormMethod | str = NormMethod.PERCENTILE, percentile: float = 99.9,
              per_channel: bool = False, input_scale: float = 1.0,
              batch_size: int = 256,
              burst: int = 1) -> tuple[Graph, dict[str, np.ndarray]]:
    """Return the normalized graph and the scale λ of every population.

    ``burst`` k > 1: every hidden population (all but the output) gets the scale λ/k,
    the threshold of a population that emits up to k spikes per step (lowlatency/burst.py).

    ``method``: a :class:`~ann2snn.ir.NormMethod` or its value (``"percentile"``,
    ``"max"``). The rules per node type are in passes/normalize_rules.py.
    """
    method = coerce(NormMethod, method, "normalization method")
    if not 0 < percentile <= 100:
        raise ConversionError(f"percentile {percentile} must be in (0, 100]")
    missing = FORWARD.missing(graph)
    if missing:
        raise UnsupportedLayerError(missing, FORWARD.supported(), "network (normalization)")
    out, _ = output_population(graph)
    pops = populations(graph)
    # first find what is required from population scales alone: needs λ first, so record
    # populations plus every weighted layer (for those whose scale nobody dictates)
    record = {p for p in pops if not isinstance(graph[p], n.QCFS)} | {
        x.name for x in graph if x.weighted}
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
    qcfs = {x.name: x for x in graph.of_type(n.QCFS)}
    for name, x in qcfs.items():  # trained thresholds: λ is the scale, no percentile
        rank = len(graph.shapes[name])
        lam[name] = (x.lam.astype(np.float64).reshape((-1,) + (1,) * (rank - 1))
                     if x.lam.size > 1 else np.full((1,) * rank, float(x.lam.flat[0])))
    if burst > 1:  # after the QCFS λ, so QCFS + burst gets the finer thresholds too
        for name in pops:
            if name != out and name in lam:
                lam[name] = lam[name] / burst
    req = _required(graph, lam, out)

    ctx = Context(graph, lam, req, input_scale)
    for node in graph:
        shape = graph.shapes[node.name]
        node = FORWARD.get(node)(ctx, node, [ctx.scale[i] for i in node.inputs])
        ctx.new.append(dataclasses.replace(node, inputs=tuple(ctx.src(i) for i in node.inputs)))
        if node.name == out and not node.rectifier:
            target = lam[out]
            if not np.allclose(np.broadcast_to(ctx.scale[out], shape),
                               np.broadcast_to(target, shape), rtol=1e-7):
                ctx.rename[out] = ctx.rescale(out, ctx.scale[out], target, "out")
                ctx.scale[out] = target
    output = ctx.src(graph.output)
    lambdas = {p: lam[p] for p in pops}
    meta = dict(graph.meta)
    meta["normalization"] = {
        "method": method.value, "percentile": percentile, "per_channel": per_channel,
        "input_scale": input_scale, **({"burst": burst} if burst > 1 else {}),
        "num_calibration_samples": int(len(calibration)),
        "scales": {k: (v.ravel().tolist() if v.size > 1 else float(v.flat[0]))
                   for k, v in lambdas.items()},
    }
    if qcfs:  # these scales are the trained λ of the QCFS layers, not percentiles
        meta["normalization"]["qcfs"] = {k: {"levels": x.levels} for k, x in qcfs.items()}
    return Graph(ctx.new, output, meta), lambdas

