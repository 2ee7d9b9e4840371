"""Integer mode, the public API: ``quantize(snn, QuantSpec(...)) -> SNN``.

The quantized network is an ordinary SNN whose graph has integer weights and thresholds
and a :class:`~ann2snn.ir.QuantInfo` (``graph.quant``); ``SNN.simulate`` then runs the
integer simulator (:mod:`ann2snn.sim.integer`), and ``ann2snn export c`` turns it into C
that reproduces it bit for bit. Semantics: docs/integer-mode.md.

The package: ``spec`` (QuantSpec, the supported node types, shared helpers), ``solve``
(the thresholds θ and scales σ), ``build`` (the integer weights and the overflow proof),
``targets`` (named chip profiles, ``target="loihi"``) and ``target_limits`` (a chip's
current and bias limits on θ).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ..errors import ConversionError
from ..ir import Graph, is_quantized
from .build import weight_bytes
from .solve import quantize_graph
from .spec import QuantSpec

log = logging.getLogger(__name__)

__all__ = ["QuantSpec", "quantize", "quantize_graph", "is_quantized", "input_to_int",
           "weight_bytes"]


def quantize(snn, spec: QuantSpec | None = None, calibration=None, *,
             target: str | None = None, **fields):
    """Return the integer-mode version of ``snn`` (an SNN or a spiking Graph).

    ``spec`` defaults to ``QuantSpec(**fields)`` (8-bit weights, 32-bit membranes, 8-bit
    input). ``calibration`` (training samples, optional) sets the input range when
    ``spec.input_range`` is None; without it inputs are taken to lie in [0, 1].
    ``target`` ("loihi", quantize/targets.py) quantizes within a chip's limits: its
    profile sets the spec (``fields`` may set what it leaves open, e.g. input_range).
    """
    from ..arrays import samples
    from ..network import SNN

    profile = None
    if target is not None:
        from .targets import get_target

        profile = get_target(target)
        if spec is not None:
            raise ConversionError(f"target={target!r} sets the QuantSpec; pass no spec")
        fixed = sorted(set(fields) & set(profile.spec))
        if fixed:
            raise ConversionError(f"the {target} target fixes {', '.join(fixed)}; "
                                  "leave them out")
        spec = QuantSpec(**profile.spec, **fields)
    elif spec is None:
        spec = QuantSpec(**fields)
    elif fields:
        raise ConversionError("pass either a QuantSpec or its fields, not both")
    calib = None if calibration is None else samples(calibration, "calibration data")
    if isinstance(snn, Graph):
        graph, ann = snn, None
    elif hasattr(snn, "graph"):
        graph, ann = snn.graph, getattr(snn, "ann_graph", None)
    else:
        raise ConversionError(f"quantize() needs an SNN or a spiking Graph, not "
                              f"{type(snn).__name__}")
    if spec.per_channel is None:  # follow the float network's scales (per channel by default)
        norm = graph.meta.get("normalization") or {}
        spec = dataclasses.replace(spec, per_channel=bool(norm.get("per_channel", False)))
    if profile is not None:
        graph = profile.prepare(graph)
    qgraph = quantize_graph(graph, spec, calib, target=target)
    if profile is not None:
        qgraph = qgraph.replace(list(qgraph), meta={**qgraph.meta, **profile.meta})
    q = qgraph.quant
    log.info("quantized: %d-bit weights, %d-bit membranes, %d-bit input (scale %.4g); "
             "%d bytes of weights", spec.weight_bits, spec.state_bits, spec.input_bits,
             q.input_scale, q.weight_bytes)
    return SNN(qgraph, ann, getattr(snn, "timesteps", 64))


def input_to_int(x, graph: Graph) -> np.ndarray:
    """The integers a quantized network sees for float input ``x`` (numpy, int64)."""
    from ..arrays import to_numpy
    from ..sim.integer import quantize_input

    return quantize_input(to_numpy(x, None), graph).numpy()
