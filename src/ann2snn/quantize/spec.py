"""Integer mode: the specification (widths in bits) and small shared helpers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConversionError, UnsupportedLayerError
from ..ir import Graph, QuantScale, coerce
from ..ir import nodes as n

INT32_MAX = 2**31 - 1


def check_supported(graph: Graph, where: str) -> None:
    """Raise :class:`UnsupportedLayerError` listing every node integer mode does not
    implement (the :attr:`~ann2snn.ir.nodes.Node.integer` trait), and check every
    AvgPool is a sum over a fixed window."""
    bad = [(x.name, x.op) for x in graph if not x.integer]
    if bad:
        raise UnsupportedLayerError(bad, [c.__name__ for c in n.types_with("integer")], where)
    for x in graph.of_type(n.AvgPool):
        _check_avgpool(x, graph.shapes[x.inputs[0]])


@dataclass(frozen=True)
class QuantSpec:
    """How to quantize: widths in bits, and how the scale of each layer is chosen.

    ``scale``: :class:`~ann2snn.ir.QuantScale` or its value: ``"integer"`` (θ any integer,
    the most precise) or ``"pow2"`` (θ = 2^k).
    ``input_range``: the float input range r (x_int = round(x·q), q = (2^b−1)/r, or
    (2^(b−1)−1)/r for signed input); None takes it from the calibration data, else 1.
    """

    weight_bits: int = 8
    state_bits: int = 32
    input_bits: int = 8
    #: one integer threshold per channel; None (the default): as the float network was
    #: normalized (``meta["normalization"]["per_channel"]``), per layer when unknown
    per_channel: bool | None = None
    scale: QuantScale = QuantScale.INTEGER
    input_range: float | None = None
    input_signed: bool | None = None
    #: limits of a neuromorphic target (quantize/targets.py), None: none. They bind the
    #: populations whose current arrives as spikes (not those fed by the analog input,
    #: which a chip computes on its host): every |current| (synaptic sum plus bias, the
    #: proven bound) ≤ current_limit, every |bias| ≤ bias_limit; every θ ≥ min_threshold
    current_limit: int | None = None
    bias_limit: int | None = None
    min_threshold: int = 1

    def __post_init__(self):
        object.__setattr__(self, "scale", coerce(QuantScale, self.scale, "QuantSpec.scale"))

    def validate(self) -> None:
        if not 2 <= self.weight_bits <= 16:
            raise ConversionError(f"weight_bits={self.weight_bits}: use 2 to 16")
        if not 4 <= self.state_bits <= 32:
            raise ConversionError(f"state_bits={self.state_bits}: use 4 to 32")
        if not 1 <= self.input_bits <= 16:
            raise ConversionError(f"input_bits={self.input_bits}: use 1 to 16")
        if self.input_range is not None and not self.input_range > 0:
            raise ConversionError(f"input_range={self.input_range} must be > 0")
        for name in ("current_limit", "bias_limit", "min_threshold"):
            v = getattr(self, name)
            if v is not None and not v >= 1:
                raise ConversionError(f"{name}={v} must be >= 1")

    @property
    def weight_max(self) -> int:
        return 2 ** (self.weight_bits - 1) - 1

    @property
    def v_limit(self) -> int:
        """Membranes saturate at ±v_limit after every add."""
        return 2 ** (self.state_bits - 1) - 1


def weight_dtype(bits: int) -> np.dtype:
    return np.dtype(np.int8 if bits <= 8 else np.int16)


def _bc(s: np.ndarray, c: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(s, np.float64).reshape(-1), (c,)).copy() \
        if np.size(s) == 1 else np.asarray(s, np.float64).reshape(-1)


def _uniform(v: np.ndarray) -> np.ndarray:
    return v[:1].copy() if v.size and np.all(v == v[0]) else v


def _max_ratio(x: n.Node, s_in: np.ndarray, g: Graph) -> np.ndarray:
    """Per output channel j: max_i |W[j, i] / σ_in[i]| (what limits σ_out)."""
    if isinstance(x, n.Dense):
        s = _bc(s_in, x.weight.shape[1])
        return np.max(np.abs(x.weight.astype(np.float64) / s[None, :]), axis=1)
    if isinstance(x, n.Conv):
        w = x.weight.astype(np.float64)
        co, cig = w.shape[:2]
        s = _bc(s_in, cig * x.groups).reshape(x.groups, 1, cig)
        s = np.repeat(s, co // x.groups, axis=0).reshape(co, cig)
        w = w / s.reshape(s.shape + (1,) * (w.ndim - 2))
        return np.max(np.abs(w.reshape(co, -1)), axis=1)
    shape = g.shapes[x.name]
    c = shape[0] if shape else 1
    f = np.abs(np.broadcast_to(x.factor.astype(np.float64), shape).reshape(c, -1)).max(1)
    return f / _bc(s_in, c)


def _check_avgpool(x: n.AvgPool, in_shape: tuple[int, ...]) -> None:
    """An integer sum equals k × the average only if every window's divisor is k."""
    for size, k, s, p in zip(in_shape[1:], x.kernel, x.stride, x.padding):
        span = size + 2 * p - k
        outs = (-(-span // s) if x.ceil_mode else span // s) + 1
        if x.ceil_mode and (outs - 1) * s >= size + p:
            outs -= 1
        for o in range(outs):
            start = o * s - p
            full = start + k <= size + p
            inside = start >= 0 and start + k <= size
            if not full or (not x.count_include_pad and not inside):
                raise ConversionError(
                    f"AvgPool '{x.name}': its windows have different sizes (ceil_mode, or "
                    "padding with count_include_pad=False), so it is not an integer sum "
                    "over a fixed k; use padding with count_include_pad=True")
