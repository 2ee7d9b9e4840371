"""``ann2snn info net.snn --target loihi``: the chip resources and register limits."""

from __future__ import annotations

from .common import print_table


def report(graph, target: str) -> int:
    """Print the resources of ``graph`` on ``target``; 0 if it fits, 2 if not (the
    reasons are printed: this is a report, not an error)."""
    from ..backends.loihi import chip
    from ..backends.loihi.profile import problems
    from ..backends.loihi.resources import resources
    from ..ir import is_quantized

    layers, cores = resources(graph)
    rows = [{"name": lay.name, "where": "host" if lay.host else "chip",
             "comp": lay.compartments, "cores": None if lay.host else lay.cores,
             "per": None if lay.host else lay.per_core,
             "in": None if lay.host else lay.in_axons,
             "out": None if lay.host else lay.out_axons,
             "bits": None if lay.host else lay.synapse_bits,
             "fits": "-" if lay.host else ("yes" if lay.problem is None else "NO")}
            for lay in layers]
    print(f"\nLoihi 1 (per core: {chip.COMPARTMENTS_PER_CORE} compartments, "
          f"{chip.IN_AXONS_PER_CORE} input axons, {chip.OUT_AXONS_PER_CORE} output axons, "
          f"{chip.SYNAPSE_BITS_PER_CORE} synapse bits; {chip.CORES_PER_CHIP} cores per chip; "
          "nengo-loihi 1.1's figures)")
    print_table(rows, [("name", "population"), ("where", "runs on"), ("comp", "compartments"),
                       ("cores", "cores"), ("per", "comp/core"), ("in", "in-axons/core"),
                       ("out", "out-axons/core"), ("bits", "synapse bits/core"),
                       ("fits", "fits")])
    bad = [lay for lay in layers if lay.problem]
    chips = -(-cores // chip.CORES_PER_CHIP)
    print(f"\n{cores} cores on {chips} chip{'s' if chips != 1 else ''} "
          f"({cores / chip.CORES_PER_CHIP:.1%} of one chip)"
          if cores else "\nno population runs on the chip")
    for lay in bad:
        print(f"layer '{lay.name}' does not fit: {lay.problem}")
    regs = problems(graph) if is_quantized(graph) else []
    if not is_quantized(graph):
        print("not quantized: 'ann2snn quantize NET.snn --target loihi' makes it fit "
              "Loihi's registers")
    for p in regs:
        print(f"does not fit Loihi's registers: {p}")
    if not bad and not regs and is_quantized(graph):
        print("fits Loihi 1: run it with 'ann2snn simulate NET.snn --backend loihi'")
    return 2 if bad or regs else 0
