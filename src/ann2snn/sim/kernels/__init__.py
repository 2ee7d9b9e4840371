"""Fused neuron kernels: the IF recurrence, the spiking max-pool gate and the
synaptic-operation counts, each one pass over memory in one parallel region per window
(fused.c, built and loaded by native.py, wrapped for tensors in ops.py); fused.c also
holds the one-pass sums of the per-population diagnostics (analysis/layers.py).

Which code runs is chosen here, by ``$ANN2SNN_KERNELS``:

- ``auto`` (default): the compiled kernels where they apply (CPU, float32 or int64, the
  layouts the simulator produces), else the pure-torch code;
- ``torch``: always the pure-torch code (sim/functional.py, sim/pooling.py, ...);
- ``native``: the compiled kernels, and an error if they cannot be built.

Both give identical spikes (tests/sim/test_kernels.py; CI runs tests/sim both ways).
On CUDA the pure-torch code runs (no fused GPU kernel yet).
"""

from __future__ import annotations

import logging
import os

from ...errors import SimulationError
from . import native

ENV = "ANN2SNN_KERNELS"
MODES = ("auto", "torch", "native")
log = logging.getLogger("ann2snn")
_warned: list[bool] = []


def mode() -> str:
    m = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if m not in MODES:
        raise SimulationError(f"{ENV}={m!r} is not one of {', '.join(MODES)}; unset it for "
                              "auto (the compiled kernels where available)")
    return m


def library():
    """The compiled kernels, or None when the pure-torch code is to run."""
    m = mode()
    if m == "torch":
        return None
    lib = native.load()
    if lib is None:
        if m == "native":
            raise SimulationError(f"{ENV}=native, but the fused kernels are unavailable: "
                                  f"{native.failure()}; unset {ENV} to use the pure-torch "
                                  "code instead")
        if not _warned:
            _warned.append(True)
            log.warning("ann2snn: fused kernels unavailable (%s); using the pure-torch code "
                        "(same spikes, slower)", native.failure())
    return lib


def active() -> str:
    """``"native"`` or ``"torch"``: what the CPU simulator runs (builds on first call)."""
    return "native" if library() is not None else "torch"
