"""Fused neuron kernels: the IF recurrence, the spiking max-pool gate and the
synaptic-operation counts, each one pass over memory in one parallel region per window
(fused.c, built and loaded by native.py, wrapped for tensors in ops.py); fused.c also
holds the one-pass sums of the per-population diagnostics (analysis/layers.py).

Which code runs is chosen here, by ``$ANN2SNN_KERNELS``:

- ``auto`` (default): the compiled kernels where they apply (CPU, float32 or int64, the
  layouts the simulator produces; on CUDA the Triton kernels of gpu.py), else the
  pure-torch code;
- ``torch``: always the pure-torch code (sim/functional.py, sim/pooling.py, ...);
- ``native``: the compiled kernels, and an error if they cannot be built (or, on CUDA,
  if Triton is missing);
- ``triton``: the Triton kernels on every device; on CPU tensors they run in Triton's
  interpreter (``TRITON_INTERPRET=1``), which is how CI checks the GPU kernels without
  a GPU (slow: for testing only).

All give identical spikes (tests/sim/test_kernels.py, test_kernels_gpu.py; CI runs
tests/sim with the C kernels and with the pure-torch code).
"""

from __future__ import annotations

import logging
import os

import torch

from ...errors import SimulationError
from . import native

ENV = "ANN2SNN_KERNELS"
MODES = ("auto", "torch", "native", "triton")
log = logging.getLogger("ann2snn")
_warned: list[bool] = []
_warned_gpu: list[bool] = []


def mode() -> str:
    m = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if m not in MODES:
        raise SimulationError(f"{ENV}={m!r} is not one of {', '.join(MODES)}; unset it for "
                              "auto (the compiled kernels where available)")
    return m


def library():
    """The compiled kernels, or None when the pure-torch code is to run."""
    m = mode()
    if m in ("torch", "triton"):
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


def gpu_kernels(device: torch.device):
    """The Triton kernels (gpu.py) for tensors on ``device``, or None when the pure-torch
    code is to run there (the CPU's compiled kernels are :func:`library`'s)."""
    m = mode()
    if m == "torch" or (device.type != "cuda" and m != "triton"):
        return None
    from . import gpu as g

    if g.available() and (device.type == "cuda" or g.interpreted()):
        return g
    if not g.available():
        why = g.failure()
    else:
        why = ("on CPU tensors they run in Triton's interpreter only: set TRITON_INTERPRET=1 "
               "(for testing; it is slow)")
    if m in ("native", "triton"):
        raise SimulationError(f"{ENV}={m}, but the Triton kernels cannot run on {device}: "
                              f"{why}; unset {ENV} for the kernels that fit this device")
    if not _warned_gpu:
        _warned_gpu.append(True)
        log.warning("ann2snn: fused GPU kernels unavailable (%s); using the pure-torch code "
                    "(same spikes, slower)", why)
    return None


def fused(name: str, device: torch.device, *args):
    """The fused kernel ``name`` for tensors on ``device``: ``ops.<name>(library(), *args)``
    on CPU, ``gpu.<name>(*args)`` on CUDA; None where none applies (then the caller runs
    its pure-torch code)."""
    lib = library() if device.type == "cpu" else None
    if lib is not None:
        from . import ops

        return getattr(ops, name)(lib, *args)
    g = gpu_kernels(device)
    return None if g is None else getattr(g, name)(*args)


def any_for(device: torch.device) -> bool:
    """Whether fused kernels run for tensors on ``device`` (C on CPU, Triton on CUDA)."""
    return (library() if device.type == "cpu" else None) is not None \
        or gpu_kernels(device) is not None


def check(device: torch.device) -> None:
    """Before any work: ``$ANN2SNN_KERNELS`` names a mode, and the kernels it insists on
    (``triton``; ``native`` on CUDA) can run on ``device``; SimulationError otherwise.
    (The C kernels' build is tried, and its failure reported, at first use.)"""
    m = mode()
    if device.type == "cuda" or m == "triton":
        gpu_kernels(device)
