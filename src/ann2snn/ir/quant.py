"""Integer mode, as the graph records it: :class:`QuantInfo` (``graph.quant``).

A quantized graph (ann2snn.quantize) has integer weights, biases and factors on its
nodes, integer thresholds on its IF populations (``IF.threshold``, or ``IF.thresholds``
per channel), and one :class:`QuantInfo` with the widths, the input quantization and
what the quantizer proved; ``graph.quant is None`` for a float graph. Semantics:
docs/integer-mode.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .nodes import IF
from .options import QuantScale, coerce

#: the version of the record (``"version"`` of the former ``meta["quant"]`` dict)
QUANT_VERSION = 1


@dataclass(frozen=True)
class QuantInfo:
    """What integer mode chose for a graph. Bounds and scales are by node name."""

    weight_bits: int
    state_bits: int
    input_bits: int
    per_channel: bool
    scale: QuantScale
    input_scale: float  #: q: x_int = clamp(⌊x·q + 1/2⌋, input_min, input_max)
    input_range: float  #: the float input range r the scale was chosen for
    input_signed: bool
    input_min: int
    input_max: int
    v_limit: int  #: membranes saturate at ±v_limit = 2^(state_bits−1) − 1
    #: σ of every weighted node's output: w_int = round(W·σ_out/σ_in)
    scales: dict[str, tuple[float, ...]] = field(default_factory=dict)
    #: the proven bound on every tensor's integer magnitude (all below 2^31)
    bounds: dict[str, int] = field(default_factory=dict)
    #: bytes of every constant: weights, biases, factors, and 4 per threshold
    weight_bytes: int = 0
    version: int = QUANT_VERSION
    #: the target profile it was quantized for (quantize/targets.py), None: none
    target: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "scale", coerce(QuantScale, self.scale, "quantization scale"))

    def to_json(self) -> dict:
        """A JSON-able dict (the graph file's ``"quant"`` entry)."""
        d = dataclasses.asdict(self)
        d["scale"] = self.scale.value
        d["scales"] = {k: list(v) for k, v in self.scales.items()}
        return d

    @classmethod
    def from_json(cls, d: dict) -> QuantInfo:
        """The inverse of :meth:`to_json`; also reads the former ``meta["quant"]`` dict
        (whose ``"thresholds"`` are not part of this record: see :func:`upgrade_v1`)."""
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["scales"] = {k: tuple(float(x) for x in v) for k, v in d.get("scales", {}).items()}
        kw["bounds"] = {k: int(v) for k, v in d.get("bounds", {}).items()}
        return cls(**kw)


# (graph.py imports this module: the functions below take a Graph without naming it)


def is_quantized(graph) -> bool:
    """Whether the Graph ``graph`` is an integer-mode graph."""
    return graph.quant is not None


def if_thresholds(node: IF) -> tuple:
    """The thresholds of an IF population: one per channel (integer mode, per channel)
    or a single one for all its neurons."""
    return node.thresholds if node.thresholds is not None else (node.threshold,)


def thresholds(graph) -> dict[str, list[int]]:
    """The integer thresholds of every population of a quantized graph, by name."""
    return {x.name: [int(v) for v in if_thresholds(x)] for x in graph if isinstance(x, IF)}


def threshold_fields(theta) -> dict:
    """The IF fields that hold the chosen integer thresholds ``theta`` (one per channel,
    or one): ``threshold`` where they are all equal, ``thresholds`` where per channel."""
    th = [int(v) for v in theta]
    out: dict = {"threshold": float(th[0])} if all(v == th[0] for v in th) else {}
    if len(th) > 1:
        out["thresholds"] = tuple(th)
    return out


def upgrade_v1(meta: dict, nodes: list) -> tuple[dict, QuantInfo | None, list]:
    """A graph file of format version 1 kept integer mode in ``meta["quant"]`` (with
    the thresholds of every population by name): (meta without it, the QuantInfo, the
    nodes with their thresholds)."""
    if "quant" not in meta:
        return meta, None, nodes
    meta = dict(meta)
    q = meta.pop("quant")
    th = q.get("thresholds", {})
    nodes = [dataclasses.replace(x, **threshold_fields(th[x.name]))
             if isinstance(x, IF) and x.name in th else x for x in nodes]
    return meta, QuantInfo.from_json(q), nodes
