"""A quantized Graph as nengo-loihi LoihiBlocks, for its emulator (docs/backends.md).

Every population fed by spikes is one ``LoihiBlock`` whose compartments have the
registers of chip.py in Loihi's units (ann2snn's integers × 2^6): vth = 64·(θ − 1),
bias = 64·b, current decay 4095 (u takes each step's input), voltage decay 0,
refractory delay 1 (none), vmin = −(2^23 − 1), vmax = 2^23 − 1. Every (source,
population) projection of backends/projections.py (integer arithmetic: pooling is a
window sum) is one ``Synapse`` holding each source neuron's weights (64·w, mantissa w
at weight exponent −1) and one ``Axon`` from the source block. A population fed by
the analog input runs on the host (runner.py) and reaches the chip through a
``SpikeInput``, as nengo-loihi runs an off-chip layer.

The blocks are built already discretized (int32), so nengo-loihi's discretization,
which would choose its own weight scales, is not run: the emulator computes with
exactly the integers the quantizer chose. The emulator does not split blocks into
cores (its arithmetic is per compartment); resources.py counts the cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from nengo_loihi.block import Axon, LoihiBlock, Synapse
from nengo_loihi.builder import Model
from nengo_loihi.inputs import SpikeInput
from nengo_loihi.probe import LoihiProbe

from ...ir.quant import if_thresholds
from ..projections import integer_expand, projections
from . import chip
from .profile import split

#: what a traced run probes besides the spikes: emulator key by trace kind
TRACE_KEYS = {"current": "current", "v": "voltage"}


@dataclass
class Built:
    model: Model
    host: list[str]  #: host populations, in topological order
    inputs: dict[str, SpikeInput]  #: host population -> its spikes' way onto the chip
    probes: dict[str, dict[str, LoihiProbe]]  #: chip population -> kind -> probe
    bias: dict[str, np.ndarray]  #: chip population -> its bias (ann2snn units)


def compartments(n: int, theta: int, bias: np.ndarray, label: str) -> LoihiBlock:
    """A block of ``n`` non-leaky IF compartments with threshold θ (v ≥ θ spikes)."""
    block = LoihiBlock(n, label=label)
    c = block.compartment
    c.decay_u = np.full(n, 2**12 - 1, np.int32)  # u(t) = q(t): no current filter
    c.decay_v = np.zeros(n, np.int32)  # no voltage decay
    c.scale_u = c.scale_v = False
    c.refract_delay = np.ones(n, np.int32)  # no refractory period
    c.vth = np.full(n, chip.UNIT * (theta - 1), np.int32)
    c.bias = (np.asarray(bias, np.int64) * chip.UNIT).astype(np.int32)
    c.vmin, c.vmax = -chip.V_MAX, chip.V_MAX
    return block


def synapse(conn, label: str) -> Synapse:
    """One weight list per source neuron (Loihi's per-axon synapses), in Loihi units."""
    m = scipy.sparse.csr_matrix((conn.weight.astype(np.float32), (conn.pre, conn.post)),
                                shape=(conn.n_pre, conn.n_post))
    m.sum_duplicates()
    syn = Synapse(conn.n_pre, label=label)
    syn.set_weights(m)  # float32 rows and int32 indices: no copy (numpy 2 safe)
    syn.weights = [(w.astype(np.int64) * chip.UNIT).astype(np.int32) for w in syn.weights]
    return syn


def build(graph, record: bool = False) -> Built:
    """The emulator's model of the quantized ``graph``; ``record``: also probe the
    chip populations' currents and voltages (for traces)."""
    projs = projections(graph, integer_expand)
    host, chip_pops = split(graph)
    model = Model(dt=1.0, label=graph.meta.get("name", "ann2snn"))
    sources: dict[str, object] = {}
    inputs: dict[str, SpikeInput] = {}
    for name in host:
        inp = SpikeInput(math.prod(graph.shapes[name]), label=name)
        model.add_input(inp)
        sources[name] = inputs[name] = inp
    probes: dict[str, dict[str, LoihiProbe]] = {}
    for name in chip_pops:
        proj = projs[name]
        (theta,) = {int(v) for v in if_thresholds(graph[name])}
        block = compartments(math.prod(graph.shapes[name]), theta, proj.bias, name)
        for src, conn in proj.incoming.items():
            syn = synapse(conn, f"{src}->{name}")
            block.add_synapse(syn)
            axon = Axon(conn.n_pre, label=f"{src}->{name}")
            axon.target = syn
            axon.set_compartment_axon_map(np.arange(conn.n_pre))
            sources[src].add_axon(axon)
        model.add_block(block)
        sources[name] = block
        probes[name] = {"spikes": LoihiProbe(target=block, key="spiked")}
        if record:
            probes[name].update({k: LoihiProbe(target=block, key=key)
                                 for k, key in TRACE_KEYS.items()})
        for p in probes[name].values():
            model.add_probe(p)
    return Built(model, host, inputs, probes, {p: projs[p].bias for p in chip_pops})
