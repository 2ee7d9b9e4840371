"""Loihi 1, as nengo-loihi 1.1.0 models it: register widths and per-core limits.

Every figure is nengo-loihi's own constant (cited by module; tests/equivalence/
test_loihi.py checks them against the installed package). This module imports nothing
of nengo-loihi, so the profile and ``ann2snn info`` work without it.

A compartment (nengo_loihi/emulator/interface.py, ``CompartmentState.update``), with
the current decay at its maximum (u takes each step's input, no filter) and no voltage
decay, is per step t

    u(t) = q(t)                              q: the synaptic input, |q| < 2^21
    v(t) = clip(v(t−1) + u(t) + bias, vmin, vmax)
    spike where v(t) > vth;  v ← 0 there     (refractory delay 1: none)

and a spike emitted at step t reaches its targets' q at step t + 1 (one step per
connection; ``SynapseState.inject_current`` reads the previous step's spikes).
Weights are ``mant · 2^(6 + wgtExp)`` with an 8-bit signed mantissa (a mixed-sign
synapse keeps 7 bits and the sign), vth ``= vth_mant · 2^6``, bias ``= bias_mant ·
2^bias_exp``.

ann2snn's integer mode counts in units of 2^6 (:data:`UNIT`): weight w, bias b,
threshold θ and membrane v are Loihi's 64·w, 64·b, vth = 64·(θ − 1) and 64·v. Then
``v > vth`` is ``v ≥ θ``, and with wgtExp = −1 every |w| ≤ 127 is a mantissa.
"""

from __future__ import annotations

#: ann2snn's integer unit in Loihi's: weights are shifted left by 6 (discretize.py)
UNIT = 2**6
#: nengo_loihi/block.py: MAX_COMPARTMENTS, MAX_IN_AXONS, MAX_OUT_AXONS, MAX_SYNAPSE_BITS
COMPARTMENTS_PER_CORE = 1024
IN_AXONS_PER_CORE = 4096
OUT_AXONS_PER_CORE = 4096
SYNAPSE_BITS_PER_CORE = 16384 * 64
#: nengo_loihi/hardware/allocators.py: "Chips cannot have more than 128 cores"
CORES_PER_CHIP = 128
#: nengo_loihi/builder/discretize.py
VTH_MAN_MAX = 2**17 - 1
BIAS_MAN_MAX = 2**12 - 1
Q_BITS = 21  #: the synaptic accumulator q: |q| < 2^21
U_BITS = 23  #: the compartment current u (and u + bias): |u| < 2^23
#: the membrane: vmax = 2^(9 + 2·vmaxe) − 1, vmaxe ≤ 7; vmin = −2^vmine + 1
V_MAX = 2**23 - 1
#: a mixed-sign synapse (block.py: fanout_type 1, 8 weight bits, shift_bits 1)
WEIGHT_MANT_MAX = 2**7 - 1
#: the weight exponent of every synapse: 2^(6 + wgtExp) · 2 (the shifted-out bit) = 64
WEIGHT_EXP = -1

#: ann2snn's limits in its own units (what the quantization profile asks for)
WEIGHT_MAX = WEIGHT_MANT_MAX  # |w| ≤ 127
BIAS_MAX = BIAS_MAN_MAX  # bias_exp 6: 64·b = b · 2^6
CURRENT_MAX = 2 ** (Q_BITS - 6) - 1  # |Σ w·s + b| < 2^15 keeps q (and u + bias) in range
THRESHOLD_MIN = 2  # vth_mant ≥ 1
THRESHOLD_MAX = VTH_MAN_MAX + 1
STATE_BITS = 18  # ann2snn's membrane saturates at ±(2^17 − 1): 64·v within ±V_MAX
