"""The quantization target "loihi" (``ann2snn quantize net.snn --target loihi``) and
the check that an integer-mode network fits Loihi 1's registers (chip.py).

The profile: 8-bit weights (|w| ≤ 127: Loihi's signed mantissa at weight exponent −1),
one integer threshold per layer with 2 ≤ θ ≤ 2^17 (vth = 64·(θ − 1)), reset to zero,
membranes saturating at ±(2^17 − 1) (Loihi's ±(2^23 − 1) in its units), every
population's proven current bound below 2^15 (the 21-bit synaptic accumulator) and
every bias within ±4095 (a 13-bit bias mantissa), synaptic delay 1 (one step per
connection, as the chip). A population fed by the analog input runs on the host
(Loihi has no analog input; nengo-loihi runs such a layer off-chip too), so the
register limits bind the others only.

:func:`problems` checks a quantized graph against all of it, for the backend and for
``ann2snn info --target loihi``; it reads the graph (its proven bounds and composed
connection lists), never the quantizer's intentions.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ...errors import ConversionError
from ...ir import QuantScale, is_quantized
from ...ir import nodes as n
from ...ir.facts import populations
from ...ir.options import ResetMode
from ...ir.quant import if_thresholds
from ...quantize.targets import TargetProfile
from ..base import Problem
from . import chip

log = logging.getLogger(__name__)


def prepare(graph):
    """The spiking graph with reset to zero; every other neuron option Loihi's
    compartment cannot express is refused, all at once."""
    bad = []
    for p in populations(graph):
        if p.leak:
            bad.append(f"IF '{p.name}' has leak {p.leak} (Loihi's IF here has none)")
        if p.multi_spike > 1:
            bad.append(f"IF '{p.name}' emits up to {p.multi_spike} spikes per step "
                       "(a Loihi compartment emits one): convert without multi_spike")
        if p.membrane_readout:
            bad.append(f"IF '{p.name}' is a membrane readout (Loihi reads spikes): convert "
                       "with softmax_readout='spikes' (CLI: --softmax-readout spikes)")
    if bad:
        raise ConversionError("the network does not fit Loihi:\n  - " + "\n  - ".join(bad))
    subtract = [p.name for p in populations(graph) if p.reset is not ResetMode.ZERO]
    if subtract:
        log.warning("Loihi resets to zero: populations %s now reset to zero (accuracy may "
                    "differ from reset by subtraction)", ", ".join(subtract))
    shifted = [p.name for p in populations(graph) if p.v0]
    if shifted:  # convert's default v0 = 0.5; a Loihi compartment starts at 0
        log.warning("Loihi starts every membrane at 0: populations %s now start at v0 = 0 "
                    "instead of %s (convert with v0=0 to simulate what Loihi runs)",
                    ", ".join(shifted), sorted({p.v0 for p in populations(graph) if p.v0}))
    return graph.replace([dataclasses.replace(x, reset=ResetMode.ZERO, v0=0.0)
                          if x.population else x for x in graph])


PROFILE = TargetProfile(
    name="loihi",
    description="Loihi 1 (nengo-loihi's emulator): 8-bit weights, per-layer integer "
                "thresholds, reset to zero, 18-bit membranes, synaptic delay 1",
    spec=dict(weight_bits=8, state_bits=chip.STATE_BITS, per_channel=False,
              scale=QuantScale.INTEGER, current_limit=chip.CURRENT_MAX,
              bias_limit=chip.BIAS_MAX, min_threshold=chip.THRESHOLD_MIN),
    prepare=prepare,
    meta={"synaptic_delay": 1},
)


def split(graph) -> tuple[list[str], list[str]]:
    """(host populations: fed by the analog input, chip populations: fed by spikes)."""
    from ..projections import integer_expand, projections

    projs = projections(graph, integer_expand)
    host = [p for p, pr in projs.items() if set(pr.incoming) & set(graph.inputs)]
    return host, [p for p in projs if p not in host]


def problems(graph) -> list[Problem]:
    """Every way the quantized ``graph`` does not fit Loihi 1 (chip.py's figures)."""
    from ..projections import integer_expand, projections

    if not is_quantized(graph):
        return [Problem("the network is not quantized",
                        "quantize it first: ann2snn quantize NET.snn --target loihi")]
    out: list[Problem] = []
    q = graph.quant
    if q.v_limit != 2 ** (chip.STATE_BITS - 1) - 1:
        out.append(Problem(f"membranes saturate at ±{q.v_limit}, not Loihi's ±(2^17 − 1) "
                           "(in units of 2^6)", "quantize with --target loihi"))
    projs = projections(graph, integer_expand)
    inputs = set(graph.inputs)
    for p in populations(graph):
        th = [int(v) for v in if_thresholds(p)]
        if len(set(th)) > 1:
            out.append(Problem(f"IF '{p.name}' has per-channel thresholds",
                               "quantize with --target loihi (one threshold per layer)"))
        if not chip.THRESHOLD_MIN <= min(th) <= max(th) <= min(chip.THRESHOLD_MAX, q.v_limit):
            out.append(Problem(f"IF '{p.name}': threshold {min(th)}..{max(th)} outside "
                               f"{chip.THRESHOLD_MIN}..{min(chip.THRESHOLD_MAX, q.v_limit)} "
                               "(vth = 64·(θ − 1), 17-bit mantissa)"))
        if p.reset is not ResetMode.ZERO:
            out.append(Problem(f"IF '{p.name}' resets by subtraction; Loihi resets to zero",
                               "quantize with --target loihi"))
        if p.leak or p.multi_spike > 1 or p.membrane_readout or \
                np.floor(max(th) * p.v0 + 0.5) != 0:
            out.append(Problem(f"IF '{p.name}': leak, multi-spike, v0 or a membrane readout "
                               "(Loihi: none of them)", "convert without them"))
        srcs = set(projs[p.name].incoming)
        if srcs & inputs:
            if srcs - inputs:
                out.append(Problem(f"IF '{p.name}' is fed by both the analog input and "
                                   "spikes; the input's populations run on the host"))
            if p.name == graph.output:
                out.append(Problem(f"the output '{p.name}' is fed by the analog input: "
                                   "nothing would run on the chip"))
            continue
        out.extend(_register_problems(graph, p, projs[p.name]))
    return out


def _register_problems(graph, p: n.IF, proj) -> list[Problem]:
    out = []
    worst = max((float(np.abs(c.weight).max(initial=0)) for c in proj.incoming.values()),
                default=0.0)
    if worst > chip.WEIGHT_MAX:
        out.append(Problem(f"IF '{p.name}': a weight of {worst:.0f} exceeds Loihi's "
                           f"mantissa ±{chip.WEIGHT_MAX}", "quantize with --target loihi"))
    b = float(np.abs(proj.bias).max(initial=0))
    if b > chip.BIAS_MAX:
        out.append(Problem(f"IF '{p.name}': a bias of {b:.0f} exceeds Loihi's 13-bit "
                           f"mantissa ±{chip.BIAS_MAX}", "quantize with --target loihi"))
    bound = graph.quant.bounds.get(p.inputs[0])
    if bound is None or bound > chip.CURRENT_MAX:
        out.append(Problem(f"IF '{p.name}': its current may reach {bound}, beyond Loihi's "
                           f"21-bit synaptic input (±{chip.CURRENT_MAX} in units of 2^6)",
                           "quantize with --target loihi"))
    return out
