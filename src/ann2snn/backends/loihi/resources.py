"""Loihi 1 resources of a network: cores, compartments, synapses and axons per layer,
against the per-core limits of chip.py (``ann2snn info net.snn --target loihi``).

Every population fed by spikes is cut into cores of consecutive compartments (as
nengo-loihi's block splitting does, in equal parts): at most 1024 compartments per
core, and as many more cores as its input axons (one per source neuron that reaches
the core, at most 4096), its synapse memory (nengo-loihi's ``SynapseConfig.
bits_per_axon``: 8-bit weights in groups of 64 synapses per axon, each group rounded
up to 64-bit words, at most 16384 words) or the output axons of its neurons (one per
target core a neuron reaches, at most 4096 per core) need. A layer that does not fit
even one compartment per core is named with the limit it breaks. Populations fed by
the analog input run on the host and need no core; their spikes arrive through input
axons of the cores they reach. Chips: 128 cores each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...ir import is_quantized
from ..projections import expand_in, integer_expand, projections
from . import chip

#: nengo_loihi/block.py SynapseConfig as set by Synapse.set_weights: 8 weight bits
#: (weight_bits=7 maps to 8), no index, delay or tag bits, 64 synapses per group
WEIGHT_BITS = 8
GROUP = 64
GROUP_HEADER_BITS = 4 + 6  # synapse_idx_bits + n_synapses_bits
WORD = 64


def synapse_bits(n_weights: np.ndarray) -> np.ndarray:
    """Synapse memory of axons with ``n_weights`` synapses each (bits_per_axon)."""
    n = np.asarray(n_weights, np.int64)
    full, rest = n // GROUP, n % GROUP
    word = -(-(GROUP * WEIGHT_BITS + GROUP_HEADER_BITS) // WORD) * WORD
    last = np.where(rest > 0, -(-(rest * WEIGHT_BITS + GROUP_HEADER_BITS) // WORD) * WORD, 0)
    return full * word + last


@dataclass
class Layer:
    name: str
    compartments: int
    host: bool = False
    cores: int = 0
    in_axons: int = 0  #: the most of any of its cores
    out_axons: int = 0
    synapse_bits: int = 0
    problem: str | None = None  #: why it does not fit (None: it fits)
    per_core: int = field(default=0)


def _in_usage(conns, n: int, per_core: int) -> tuple[int, int]:
    """(max input axons, max synapse bits) over the cores of a population of ``n``."""
    axons = np.zeros(-(-n // per_core), np.int64)
    bits = np.zeros_like(axons)
    for c in conns:
        core = c.post // per_core
        key, counts = np.unique(core * c.n_pre + c.pre, return_counts=True)
        cores = key // c.n_pre
        np.add.at(axons, cores, 1)
        np.add.at(bits, cores, synapse_bits(counts))
    return int(axons.max(initial=0)), int(bits.max(initial=0))


def _out_usage(targets, n: int, per_core: int, split: dict[str, int]) -> int:
    """The most output axons of any core of a source of ``n`` neurons."""
    out = np.zeros(-(-n // per_core), np.int64)
    for tgt, c in targets:
        tcore = c.post // split[tgt]
        ntc = int(tcore.max(initial=0)) + 1
        key = np.unique(c.pre * ntc + tcore)
        np.add.at(out, (key // ntc) // per_core, 1)
    return int(out.max(initial=0))


def resources(graph) -> tuple[list[Layer], int]:
    """Per population its :class:`Layer` and the total cores of the chip populations."""
    projs = projections(graph, integer_expand if is_quantized(graph) else expand_in)
    inputs = set(graph.inputs)
    layers = {p: Layer(p, math.prod(graph.shapes[p]),
                       host=bool(set(pr.incoming) & inputs)) for p, pr in projs.items()}
    targets: dict[str, list] = {p: [] for p in projs}
    for p, pr in projs.items():
        for s, c in pr.incoming.items():
            if s in targets:
                targets[s].append((p, c))
    split = {p: min(chip.COMPARTMENTS_PER_CORE, lay.compartments)
             for p, lay in layers.items()}
    changed = True
    while changed:
        changed = False
        for p, lay in layers.items():
            if lay.host or lay.problem:
                continue
            n = lay.compartments
            while True:
                k = -(-n // split[p])
                ax, bits = _in_usage(projs[p].incoming.values(), n, split[p])
                out = _out_usage(targets[p], n, split[p], split)
                if ax <= chip.IN_AXONS_PER_CORE and bits <= chip.SYNAPSE_BITS_PER_CORE \
                        and out <= chip.OUT_AXONS_PER_CORE:
                    break
                if split[p] == 1:
                    lay.problem = _why(ax, bits, out)
                    break
                split[p] = min(split[p] - 1, -(-n // (k + 1)))
                changed = True
            lay.cores, lay.per_core = -(-n // split[p]), split[p]
            lay.in_axons, lay.synapse_bits, lay.out_axons = ax, bits, out
    total = sum(lay.cores for lay in layers.values() if not lay.host)
    return list(layers.values()), total


def _why(ax: int, bits: int, out: int) -> str:
    if ax > chip.IN_AXONS_PER_CORE:
        return (f"one compartment receives {ax} input axons; a core takes "
                f"{chip.IN_AXONS_PER_CORE} (fan-in too large: fewer inputs per neuron)")
    if bits > chip.SYNAPSE_BITS_PER_CORE:
        return (f"one compartment's synapses take {bits} bits; a core holds "
                f"{chip.SYNAPSE_BITS_PER_CORE}")
    return (f"one neuron needs {out} output axons; a core sends {chip.OUT_AXONS_PER_CORE} "
            "(fan-out to too many cores)")
