"""Integer mode, second half: write the integer weights once every scale σ is chosen.

For a weighted node with input scale σ_in (per input channel) and output scale σ_out
(per output channel), ``w_int = round(W · σ_out / σ_in)`` and ``b_int = round(b · σ_out)``
(round half to even), clipped to the weight width. Then a forward bound on every
tensor's magnitude proves that no sum overflows an int32 accumulator:

    |y| ≤ max_o Σ_i |w_int[o, i]| · max|x| + max|b_int|
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from ..errors import ConversionError
from ..ir import Graph, QuantInfo, is_quantized
from ..ir import nodes as n
from ..ir.quant import if_thresholds, threshold_fields
from .spec import INT32_MAX, _bc, weight_dtype

log = logging.getLogger(__name__)


def _channels(shape: tuple[int, ...]) -> int:
    return shape[0] if shape else 1


def _int_weights(x: n.Node, s_in: np.ndarray, s_out: np.ndarray, g: Graph, wmax: int,
                 wdt: np.dtype) -> dict[str, np.ndarray]:
    shape = g.shapes[x.name]
    co = _channels(shape)
    so = _bc(s_out, co)
    out: dict[str, np.ndarray] = {}
    if isinstance(x, n.Dense):
        si = _bc(s_in, x.weight.shape[1])
        w = x.weight.astype(np.float64) * so[:, None] / si[None, :]
        out["weight"] = w
    elif isinstance(x, n.Conv):
        w = x.weight.astype(np.float64)
        cig = w.shape[1]
        si = _bc(s_in, cig * x.groups).reshape(x.groups, 1, cig)
        si = np.repeat(si, co // x.groups, axis=0).reshape(co, cig)
        kd = (1,) * (w.ndim - 2)
        out["weight"] = w * so.reshape((co, 1) + kd) / si.reshape(si.shape + kd)
    else:  # Scale: factor broadcast against (C, 1, ...)
        ratio = so / _bc(s_in, co)
        f = x.factor.astype(np.float64)
        if np.all(ratio == ratio[0]):
            out["factor"] = f * ratio[0]
        else:
            out["factor"] = f * ratio.reshape((co,) + (1,) * (len(shape) - 1))
    for k, v in out.items():
        if np.abs(v).max(initial=0) > wmax + 0.5:
            worst = float(np.abs(v).max())
            log.warning(
                "%s '%s': %s up to %.1f clipped to ±%d", x.op, x.name, k, worst, wmax)
        out[k] = np.clip(np.rint(v), -wmax, wmax).astype(wdt)
    bias = getattr(x, "bias", None)
    if bias is not None:
        b = bias.astype(np.float64) * so.reshape((co,) + (1,) * (bias.ndim - 1))
        if np.abs(b).max(initial=0) > INT32_MAX:
            raise ConversionError(f"{x.op} '{x.name}': the integer bias overflows int32")
        out["bias"] = np.rint(b).astype(np.int32)
    return out


def _abs_sum(x: n.Node, w: np.ndarray) -> int:
    """max over outputs of Σ |w| over one output's inputs."""
    a = np.abs(w.astype(np.int64))
    if x.weighted:
        return int(a.reshape(a.shape[0], -1).sum(1).max(initial=0))
    return int(a.max(initial=0))


def build_quantized(q) -> Graph:
    """Build the integer graph from a solved ``_Quantizer`` ``q``."""
    g, spec = q.g, q.spec
    wdt = weight_dtype(spec.weight_bits)
    nodes: list[n.Node] = []
    bound: dict[str, int] = {}
    smax = {x.name: x.multi_spike for x in g.of_type(n.IF)}

    for x in g:
        ins = list(x.inputs)
        for p in range(len(ins)):
            extra = q.inserted.get((x.name, p))
            if extra is not None:
                nodes.append(extra)
                bound[extra.name] = int(np.abs(extra.factor).max()) * bound[ins[p]]
                ins[p] = extra.name
        changes: dict = {"inputs": tuple(ins)} if x.inputs else {}
        if x.multiplicative:
            changes.update(_int_weights(x, q.sigma[x.inputs[0]], q.sigma[x.name], g,
                                        spec.weight_max, wdt))
            b = changes.get("bias")
            w = changes.get("weight", changes.get("factor"))
            bound[x.name] = _abs_sum(x, w) * bound[ins[0]] + (
                int(np.abs(b.astype(np.int64)).max(initial=0)) if b is not None else 0)
        elif isinstance(x, n.IF):
            th = q.theta[x.name]
            changes.update(threshold_fields(th))
            if th.max() > spec.v_limit:
                raise ConversionError(f"IF '{x.name}': threshold {int(th.max())} exceeds the "
                                      f"{spec.state_bits}-bit membrane; use more state bits")
            bound[x.name] = spec.v_limit if x.membrane_readout else smax[x.name]
        elif isinstance(x, n.Input):
            bound[x.name] = max(abs(q.qmin), q.qmax)
        elif isinstance(x, n.SpikingMaxPool):
            bound[x.name] = bound[ins[0]]
        elif isinstance(x, n.AvgPool):
            bound[x.name] = math.prod(x.kernel) * bound[ins[0]]
        elif isinstance(x, n.GlobalAvgPool):
            bound[x.name] = math.prod(g.shapes[ins[0]][1:]) * bound[ins[0]]
        elif isinstance(x, n.Add):
            bound[x.name] = sum(bound[i] for i in ins)
        else:
            bound[x.name] = max(bound[i] for i in ins)
        if bound[x.name] > INT32_MAX:
            raise ConversionError(
                f"{x.op} '{x.name}': its integer values may reach {bound[x.name]}, beyond "
                "int32; use fewer weight or input bits")
        nodes.append(dataclasses.replace(x, **changes) if changes else x)

    info = QuantInfo(
        weight_bits=spec.weight_bits, state_bits=spec.state_bits, input_bits=spec.input_bits,
        per_channel=spec.per_channel, scale=spec.scale, input_scale=q.q, input_range=q.range,
        input_signed=q.signed, input_min=q.qmin, input_max=q.qmax, v_limit=spec.v_limit,
        scales={k: tuple(float(v) for v in np.ravel(s)) for k, s in q.sigma.items()
                if k in g.nodes and g[k].multiplicative},
        bounds={k: int(v) for k, v in bound.items()},
        weight_bytes=_bytes(nodes, quantized=True), target=getattr(q, "target", None))
    return g.replace(nodes, quant=info)


def weight_bytes(graph: Graph) -> int:
    """Bytes of all constant arrays (weights, biases, factors) of a graph, and 4 per
    integer threshold of a quantized one."""
    return _bytes(graph, is_quantized(graph))


def _bytes(nodes, quantized: bool) -> int:
    total = sum(a.nbytes for x in nodes for a in x.arrays().values())
    if quantized:
        total += 4 * sum(len(if_thresholds(x)) for x in nodes if isinstance(x, n.IF))
    return int(total)
