"""The built-in simulator as a backend ("ann2snn", the default): float networks run in
the float simulator, quantized ones in the integer simulator (both through
``SNN.simulate``), with every encoding in float mode and analog input in integer mode,
at synaptic delay 0 or 1."""

from __future__ import annotations

from ..ir import nodes as n
from ..ir.options import Encoding, SynapticDelay
from .base import Arithmetic, Backend, Supports


class Simulator(Backend):
    """Runs the network with ``snn.simulate(data, **options)``."""

    def run(self, snn, data, **options):
        if not hasattr(snn, "simulate"):  # a spiking Graph
            from .. import SNN

            snn = SNN(getattr(snn, "graph", snn))
        return snn.simulate(data, **options)


BACKEND = Simulator(
    name="ann2snn",
    description="the built-in simulator (float, and integer mode for quantized networks)",
    supports={
        Arithmetic.FLOAT: Supports(nodes=frozenset(n.NODE_TYPES.values()),
                                   encoding=frozenset(Encoding),
                                   synaptic_delay=frozenset(SynapticDelay)),
        Arithmetic.INTEGER: Supports(nodes=frozenset(t for t in n.NODE_TYPES.values()
                                                     if t.integer),
                                     synaptic_delay=frozenset(SynapticDelay)),
    },
    traces=True,
)
