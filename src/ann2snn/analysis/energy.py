"""Energy estimate from operation counts — an estimate, never a measurement.

Constants: Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm CMOS, 32-bit float:
an add (accumulate) costs 0.9 pJ, a multiply 3.7 pJ, so a multiply-accumulate 4.6 pJ.

    E_ANN = 4.6 pJ × MACs
    E_SNN = 0.9 pJ × SOPs + 4.6 pJ × MACs of the layers fed by the analog input

The analog input makes the first layer's current constant, so its MACs are paid once
per sample (as the simulator computes it); a design that recomputes it every step pays
T times that, reported separately. Memory access, bias additions, membrane updates and
data movement are not counted: this compares arithmetic only.
"""

from __future__ import annotations

E_AC_PJ = 0.9
E_MAC_PJ = 4.6
SOURCE = "Horowitz, ISSCC 2014, 45 nm CMOS, 32-bit float: add 0.9 pJ, multiply-add 4.6 pJ"


def energy_estimate(sops_per_sample: float, ann_macs_per_sample: float,
                    first_layer_macs_per_sample: float, timesteps: int) -> dict:
    """The ``energy`` entry of metrics.json: joules per sample, with the constants stated."""
    snn = (E_AC_PJ * sops_per_sample + E_MAC_PJ * first_layer_macs_per_sample) * 1e-12
    every = (E_AC_PJ * sops_per_sample
             + E_MAC_PJ * first_layer_macs_per_sample * timesteps) * 1e-12
    ann = E_MAC_PJ * ann_macs_per_sample * 1e-12
    return {
        "kind": "estimate from operation counts, not a measurement",
        "constants": {"accumulate_pJ": E_AC_PJ, "multiply_accumulate_pJ": E_MAC_PJ,
                      "source": SOURCE},
        "formula": "E_SNN = 0.9 pJ x SOPs + 4.6 pJ x first-layer MACs (once per sample); "
                   "E_ANN = 4.6 pJ x MACs",
        "ann_joules_per_sample": ann,
        "snn_joules_per_sample": snn,
        "snn_joules_per_sample_first_layer_every_step": every,
        "snn_over_ann": snn / ann if ann > 0 else None,
    }
