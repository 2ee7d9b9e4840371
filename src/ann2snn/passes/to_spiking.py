"""Map a normalized ReLU network onto integrate-and-fire populations (docs/design.md §3).

Every ReLU becomes an IF population with threshold 1 (a QCFS activation too, with
v0 = 1/2: its trained λ is the scale normalization divided out); MaxPool becomes SpikingMaxPool;
the output layer becomes the readout population: spike counts by default, or a
non-spiking membrane readout when the network ended in a softmax (softmax is
monotonic, so argmax of the integrated membrane is the prediction) or when
``readout=Readout.MEMBRANE`` asks for it on any output layer.
"""

from __future__ import annotations

import dataclasses
import logging

from ..ir import Graph, Readout, ResetMode, SoftmaxReadout, coerce
from ..ir import nodes as n
from .normalize import output_population

log = logging.getLogger(__name__)

#: v(0) = θ/2 for the populations of QCFS layers (Bu et al. 2022: the "shift" that makes
#: the spike count at T = L equal the quantized activation)
QCFS_V0 = 0.5


def to_spiking(graph: Graph, reset: ResetMode | str = ResetMode.SUBTRACT, v0: float = 0.0,
               softmax_readout: SoftmaxReadout | str = SoftmaxReadout.MEMBRANE,
               readout: Readout | str | None = None) -> Graph:
    """Return the spiking graph; ``meta["readout"]`` says what its prediction is read
    from (a :class:`~ann2snn.ir.Readout` value; ``Graph.readout`` reads it).

    ``softmax_readout``: :class:`~ann2snn.ir.SoftmaxReadout` or its value:
    ``"membrane"`` (default) or ``"spikes"`` (the softmax is replaced by a spiking
    output population, as snntoolbox's softmax_to_relu).

    ``readout``: :class:`~ann2snn.ir.Readout` or its value, for any output layer:
    ``"membrane"`` (a non-spiking output that integrates its current; prediction argmax
    v(t)) or ``"spike_count"`` (a spiking output, also for a softmax). ``None`` (default):
    a softmax output follows ``softmax_readout``, any other output spikes.
    """
    reset = coerce(ResetMode, reset, "reset")
    softmax_readout = coerce(SoftmaxReadout, softmax_readout, "softmax_readout")
    out, had_softmax = output_population(graph)
    if readout is None:
        membrane = had_softmax and softmax_readout is SoftmaxReadout.MEMBRANE
        # a QCFS network's output layer is read from its membrane (the accumulated
        # current, as in Bu et al.): at T <= 8 a spike count ties too often
        # (docs/low-latency.md); a softmax output keeps softmax_readout's choice
        if not had_softmax and any(isinstance(x, n.QCFS) for x in graph):
            membrane = True
    else:
        membrane = coerce(Readout, readout, "readout") is Readout.MEMBRANE
    nodes: list[n.Node] = []
    qcfs: dict[str, int] = {}
    for x in graph:
        if isinstance(x, n.Softmax) and x.name == graph.output:
            continue
        if isinstance(x, n.ReLU):
            if x.max_value is not None and x.max_value < 1:
                log.warning("ReLU '%s' clips at %.3g of its scale; the IF population clips at 1",
                            x.name, x.max_value)
            x = n.IF(x.name, x.inputs, threshold=1.0, reset=reset, v0=v0,
                     membrane_readout=membrane and x.name == out)
        elif isinstance(x, n.QCFS):  # λ is θ (normalized: 1); v(0) = θ/2 is QCFS's shift
            qcfs[x.name] = x.levels
            x = n.IF(x.name, x.inputs, threshold=1.0, reset=reset, v0=QCFS_V0,
                     membrane_readout=membrane and x.name == out)
        elif isinstance(x, n.MaxPool):
            x = n.SpikingMaxPool(x.name, x.inputs, kernel=x.kernel, stride=x.stride,
                                 padding=x.padding, dilation=x.dilation, ceil_mode=x.ceil_mode)
        nodes.append(x)
    output = out
    if not graph[out].rectifier:
        pop = n.IF(f"{out}.neurons", (out,), threshold=1.0, reset=reset, v0=v0,
                   membrane_readout=membrane)
        nodes.append(pop)
        output = pop.name
    meta = dict(graph.meta)
    meta["readout"] = (Readout.MEMBRANE if membrane else Readout.SPIKE_COUNT).value
    if qcfs:  # the report and `ann2snn info` say where the thresholds came from
        meta["qcfs"] = {"layers": qcfs, "v0": QCFS_V0, "thresholds": "trained λ",
                        "readout": meta["readout"]}
    return Graph(nodes, output, meta)


def with_neuron_params(graph: Graph, **changes) -> Graph:
    """A copy of a spiking graph with IF parameters changed (reset, v0, leak, ...)."""
    return graph.replace([dataclasses.replace(x, **changes) if isinstance(x, n.IF) else x
                          for x in graph])
