"""The C backend: a quantized network as portable C99 that reproduces the integer
simulator bit for bit (docs/c-export.md).

``export_c(snn, "out/", x=samples)`` writes snn_model.h/.c, main.c and a Makefile, and
with samples also inputs.bin and expected.bin for ``make -C out check``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import ConversionError
from ...ir import Graph, SynapticDelay, coerce
from .writer import render, write_project

__all__ = ["export_c", "render", "write_project"]


def export_c(snn, out_dir: str | os.PathLike, *, x=None, indices=None, timesteps: int = 32,
             float_mode: bool = False, synaptic_delay: SynapticDelay | int = 0) -> list[Path]:
    """Write the C project for ``snn`` (a quantized SNN; a float one with ``float_mode``).

    ``x`` (N, ...) float samples: also write inputs.bin (quantized as the integer
    simulator quantizes them) and expected.bin (the simulator's outputs at every step
    for ``timesteps`` steps). ``indices``: their dataset indices (default 0..N-1).
    ``synaptic_delay``: 0, or 1 step per connection out of a population (docs/design.md §3).
    """
    graph = snn if isinstance(snn, Graph) else getattr(snn, "graph", None)
    if graph is None:
        raise ConversionError(f"export_c needs an SNN or a spiking Graph, not {type(snn)}")
    if timesteps < 1:
        raise ConversionError(f"timesteps must be >= 1, got {timesteps}")
    delay = int(coerce(SynapticDelay, synaptic_delay, "synaptic_delay"))
    ref = None
    if x is not None:
        if float_mode:
            from ...sim.simulator import SpikingNetwork as Net
        else:
            from ...sim.integer import IntegerNetwork as Net
        ref = Net(graph)
    return write_project(graph, out_dir, float_mode=float_mode, timesteps=timesteps, x=x,
                         indices=indices, reference=ref, synaptic_delay=delay)
