"""Integer-mode networks in NIR (docs/backends.md, "NIR"): what makes the file exact,
and what is refused (no nir import: the backend checks before the package is needed).

The file holds the integer weights, biases, factors and thresholds themselves, as
float32 arrays (exact below 2^24), and the integer-mode record in its metadata. With
integer membranes ``v ≥ θ ⇔ v > θ − 1``, so a population's NIR threshold is θ − 1 (per
neuron, which also carries per-channel thresholds), its reset edge Scale(−θ); an average
pool of integer mode is a window sum: NIR's SumPool2d. Two parts of integer mode have no
NIR node and are handled so:

- the input quantization ``x_int = clamp(⌊x·q + ½⌋, min, max)``: the graph's input is
  ``x_int``; the metadata ``input_quantization`` says how to make it;
- the membrane saturation at ±L: NIR has no clamp, so the export is exact only while no
  membrane can reach L. Each step adds at most B (the proven bound of the population's
  current) in magnitude, so |v(t)| ≤ t·B: T ≤ L / B steps are exact. A run of more
  ``timesteps`` than that is refused, naming the populations.

A reader that computes in float32 (most do) is exact while every value stays below 2^24:
the metadata's ``float32_exact_timesteps`` is the T up to which the same bound proves it.
"""

from __future__ import annotations

import numpy as np

from ...ir import nodes as n
from ...ir.quant import if_thresholds
from ..base import Problem

#: integers of magnitude below this are exact in float32
FLOAT32_EXACT = 1 << 24


def thresholds(graph, node: n.IF, shape) -> np.ndarray:
    """The population's integer θ per neuron (per-channel thresholds broadcast)."""
    th = np.asarray([int(v) for v in if_thresholds(node)], np.float64)
    if th.size > 1:
        th = th.reshape(-1, *([1] * (len(shape) - 1)))
    return np.broadcast_to(th, tuple(shape)).astype(np.float32)


def current_bound(graph, pop: n.IF) -> int | None:
    """The proven bound on the population's integer current (QuantInfo.bounds)."""
    return graph.quant.bounds.get(pop.inputs[0])


def exact_timesteps(graph, limit: int) -> int | None:
    """The most steps for which no membrane can pass ``limit`` (None: any number)."""
    out = None
    for p in graph.of_type(n.IF):
        b = current_bound(graph, p)
        if b is None or b <= 0:
            continue
        t = limit // b
        out = t if out is None else min(out, t)
    return out


def float32_timesteps(graph) -> int | None:
    """Steps a float32 reader is proven exact for (0: a current may reach 2^24)."""
    if max(graph.quant.bounds.values(), default=0) >= FLOAT32_EXACT:
        return 0
    return exact_timesteps(graph, FLOAT32_EXACT - 1)


def problems(graph, timesteps: int | None) -> list[Problem]:
    """What of the integer ``graph`` a NIR file cannot hold exactly, all at once."""
    out: list[Problem] = []
    big = []
    for x in graph:
        arrays = dict(x.arrays())
        if isinstance(x, n.IF):
            arrays["threshold"] = np.asarray(if_thresholds(x), np.float64)
        big += [f"'{x.name}' {k}" for k, v in arrays.items()
                if v.size and np.abs(np.asarray(v, np.float64)).max() >= FLOAT32_EXACT]
    if big:
        out.append(Problem(f"{', '.join(big)}: integers of 2^24 or more are not exact as "
                           "the float32 arrays of a NIR file", "quantize with fewer "
                           "weight bits (ann2snn quantize --weight-bits 8)"))
    if timesteps is not None:
        limit = int(graph.quant.v_limit)
        over = [(p.name, limit // current_bound(graph, p)) for p in graph.of_type(n.IF)
                if current_bound(graph, p) and timesteps * current_bound(graph, p) > limit]
        if over:
            names = ", ".join(f"'{k}' (exact up to T = {t})" for k, t in over)
            out.append(Problem(
                f"{names}: membranes may reach the saturation limit ±{limit} within "
                f"{timesteps} steps, and NIR has no saturating membrane", "export fewer "
                "timesteps (-T), or quantize with more state bits (--state-bits 32)",
                tuple((k, "IF") for k, _ in over)))
    return out


def metadata(graph, timesteps: int | None) -> dict:
    """The integer-mode keys of an exported file's metadata (docs/backends.md)."""
    import json

    q = graph.quant
    sat = exact_timesteps(graph, int(q.v_limit))
    f32 = float32_timesteps(graph)
    return {
        "arithmetic": "integer",
        "quant": json.dumps(q.to_json()),
        "input_quantization": json.dumps({
            "formula": "x_int = clamp(floor(x * scale + 0.5), min, max)",
            "scale": float(q.input_scale), "min": int(q.input_min),
            "max": int(q.input_max)}),
        "spike_condition": "v >= theta for integer v: exported thresholds are theta - 1 "
                           "(NIR fires on v > threshold)",
        "membrane_limit": int(q.v_limit),
        "exact_timesteps": -1 if sat is None else int(sat),
        "float32_exact_timesteps": -1 if f32 is None else int(f32),
    }
