"""Integer mode under a target's limits: the largest threshold θ a population may have
so that its current and its bias fit the target's registers (QuantSpec.current_limit,
QuantSpec.bias_limit; quantize/targets.py names the targets).

For a population l with threshold θ, every weighted node m whose output reaches it
through g summed copies (g: the pool sizes in between) gets σ_m = θ/g, so with input
bound β (the largest integer its input takes) and σ_in per input channel

    |w_int| ≤ |W|·θ/(g·σ_in) + ½,   |b_int| ≤ |b|·θ/g + ½,

and the current of one neuron of l (g copies of m's output, summed) is at most

    θ·(Σ_i |W_ji|·β/σ_in,i + |b_j|) + g·(½·Σ_i [W_ji ≠ 0]·β + ½)  =  θ·A + C.

A spike-valued leaf t (an identity shortcut, scaled by round(θ/(g·σ_t))) adds
(θ/σ_t + g/2)·β_t. Summing the members and leaves gives θ ≤ (limit − C)/A; the bias
of one neuron (Σ over members of g·|b_int|) bounds θ the same way. The build's proven
bounds (QuantInfo.bounds) then state the result; a target's own check reads those.

The limits bind only a population whose current arrives as spikes: one fed by the
analog input is computed where the input is (a chip's host), so its current is not
limited by the chip.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConversionError
from ..ir import nodes as n
from .spec import _bc


def fixed_bound(q, t: str) -> float:
    """The largest integer magnitude of the spike-valued (or input) tensor ``t``."""
    memo = q.__dict__.setdefault("_fixed_bounds", {})
    if t in memo:
        return memo[t]
    x, shp = q.g[t], q.g.shapes
    if isinstance(x, n.Input):
        b = float(max(abs(q.qmin), q.qmax))
    elif isinstance(x, n.IF):
        b = float(x.multi_spike)
    elif isinstance(x, n.AvgPool):
        b = math.prod(x.kernel) * fixed_bound(q, x.inputs[0])
    elif isinstance(x, n.GlobalAvgPool):
        b = math.prod(shp[x.inputs[0]][1:]) * fixed_bound(q, x.inputs[0])
    elif isinstance(x, n.Add):
        b = sum(fixed_bound(q, i) for i in x.inputs)
    else:
        b = max(fixed_bound(q, i) for i in x.inputs)
    memo[t] = b
    return b


def from_input(q, t: str) -> bool:
    """Whether the fixed tensor ``t`` carries the analog input (not only spikes)."""
    x = q.g[t]
    if isinstance(x, n.Input):
        return True
    if isinstance(x, n.IF):
        return False
    return any(from_input(q, i) for i in x.inputs)


def _rows(x: n.Node, s_in: np.ndarray, beta: float, shape) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel j: (Σ_i |W_ji|·β/σ_in,i, ½·Σ_i [W_ji ≠ 0]·β)."""
    if isinstance(x, (n.Dense, n.Conv)):
        w = np.abs(x.weight.astype(np.float64))
        co = w.shape[0]
        if isinstance(x, n.Dense):
            s = _bc(s_in, w.shape[1])[None, :]
        else:
            cig = w.shape[1]
            s = _bc(s_in, cig * x.groups).reshape(x.groups, 1, cig)
            s = np.repeat(s, co // x.groups, axis=0).reshape((co, cig) + (1,) * (w.ndim - 2))
        a = (w / s).reshape(co, -1).sum(1) * beta
        nz = (w > 0).reshape(co, -1).sum(1) * 0.5 * beta
        return a, nz
    c = shape[0] if shape else 1
    f = np.abs(np.broadcast_to(x.factor.astype(np.float64), shape).reshape(c, -1)).max(1)
    return f / _bc(s_in, c) * beta, np.full(c, 0.5 * beta)


def target_bound(q, tree, c: int) -> float:
    """The largest θ of channel ``c`` of ``tree``'s population under the spec's target
    limits (inf when it sets none or the population is fed by the analog input)."""
    spec = q.spec
    if spec.current_limit is None and spec.bias_limit is None:
        return math.inf
    for name, _, _ in tree.members:
        if q.g[name].inputs[0] not in q.fixed:
            raise ConversionError(
                f"'{name}' feeds '{tree.pop}' from another layer's current, not from "
                "spikes; the target needs a population between two weighted layers")
    if any(from_input(q, q.g[m].inputs[0]) for m, _, _ in tree.members) or \
            any(from_input(q, leaf[2]) for leaf in tree.leaves):
        return math.inf
    a_cur = c_cur = a_bias = c_bias = 0.0
    for name, idx, gain in tree.members:
        x = q.g[name]
        sel = idx == c
        if not sel.any():
            continue
        g = float(np.max(gain[sel]))
        a, nz = _rows(x, q.sigma[x.inputs[0]], fixed_bound(q, x.inputs[0]), q.g.shapes[name])
        bias = getattr(x, "bias", None)
        b = np.zeros_like(a) if bias is None else np.abs(
            bias.astype(np.float64).reshape(len(a), -1)).max(1)
        a_cur += float(np.max((a + b)[sel]))
        c_cur += g * float(np.max((nz + 0.5 * (b > 0))[sel]))
        a_bias += float(np.max(b[sel]))
        c_bias += 0.5 * g * float(np.any(b[sel] > 0))
    for _, _, t, idx, gain in tree.leaves:
        sel = idx == c
        if not sel.any():
            continue
        s = _bc(q.fixed[t], len(idx))[sel]
        g, beta = float(np.max(gain[sel])), fixed_bound(q, t)
        a_cur += beta / float(np.min(s))
        c_cur += 0.5 * g * beta
    out = math.inf
    if spec.current_limit is not None and a_cur > 0:
        out = min(out, (spec.current_limit - c_cur) / a_cur)
    if spec.bias_limit is not None and a_bias > 0:
        out = min(out, (spec.bias_limit - c_bias) / a_bias)
    return max(out, 0.0)
