"""Integer mode, the public API: ``quantize(snn, QuantSpec(...)) -> SNN``.

The quantized network is an ordinary :class:`~ann2snn.api.SNN` whose graph has integer
weights and ``graph.meta["quant"]``; ``SNN.simulate`` then runs the integer simulator
(:mod:`ann2snn.sim.integer`), and ``ann2snn export c`` turns it into C that reproduces
it bit for bit. Semantics: docs/integer-mode.md.
"""

from __future__ import annotations

import logging

import numpy as np

from .errors import ConversionError
from .ir import Graph
from .passes.quantize import QuantSpec, quantize_graph
from .passes.quantize_nodes import weight_bytes

log = logging.getLogger(__name__)

__all__ = ["QuantSpec", "quantize", "is_quantized", "weight_bytes"]


def is_quantized(graph: Graph) -> bool:
    return "quant" in graph.meta


def quantize(snn, spec: QuantSpec | None = None, calibration=None, **fields):
    """Return the integer-mode version of ``snn`` (an SNN or a spiking Graph).

    ``spec`` defaults to ``QuantSpec(**fields)`` (8-bit weights, 32-bit membranes, 8-bit
    input). ``calibration`` (training samples, optional) sets the input range when
    ``spec.input_range`` is None; without it inputs are taken to lie in [0, 1].
    """
    from .arrays import samples
    from .network import SNN

    if spec is None:
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
    qgraph = quantize_graph(graph, spec, calib)
    q = qgraph.meta["quant"]
    log.info("quantized: %d-bit weights, %d-bit membranes, %d-bit input (scale %.4g); "
             "%d bytes of weights", spec.weight_bits, spec.state_bits, spec.input_bits,
             q["input_scale"], q["weight_bytes"])
    return SNN(qgraph, ann, getattr(snn, "timesteps", 64))


def input_to_int(x, graph: Graph) -> np.ndarray:
    """The integers a quantized network sees for float input ``x`` (numpy, int64)."""
    from .arrays import to_numpy
    from .sim.integer import quantize_input

    return quantize_input(to_numpy(x, None), graph).numpy()
