"""Backends: read a spiking Graph and deploy it (C source, ...) or run it.

``BACKENDS`` is the registry of named backends (base.py: the interface); the built-in
simulator "ann2snn" is the default for running, "c" exports C99. :func:`export` and
:func:`simulate` check the network against the backend first (one error listing every
problem) and then call it. Registration is lazy: listing the backends imports nothing
heavy.
"""

from __future__ import annotations

from .base import (
    Arithmetic,
    Backend,
    BackendMismatch,
    BackendUnavailable,
    Problem,
    Supports,
)
from .registry import BackendRegistry, UnknownBackend

__all__ = ["BACKENDS", "DEFAULT", "Arithmetic", "Backend", "BackendMismatch",
           "BackendRegistry", "BackendUnavailable", "Problem", "Supports", "UnknownBackend",
           "get_backend", "export", "simulate"]

#: The default backend of ``simulate``.
DEFAULT = "ann2snn"

BACKENDS = BackendRegistry()
BACKENDS.register_lazy(DEFAULT, "ann2snn.backends.builtin:BACKEND",
                       "the built-in simulator (float, and integer mode for quantized networks)",
                       run=True)
BACKENDS.register_lazy("c", "ann2snn.backends.c.backend:BACKEND",
                       "portable C99 source (integer mode bit-exact, or --float), "
                       "docs/c-export.md", export=True)
BACKENDS.register_lazy("nir", "ann2snn.backends.nir.backend:BACKEND",
                       "a NIR file (nir >= 1.0.8) for Lava, snnTorch, Norse, SpiNNaker2, ...; "
                       "exact IF semantics, docs/backends.md", export=True)
BACKENDS.register_lazy("nengo", "ann2snn.backends.nengo.backend:BACKEND",
                       "Nengo's reference simulator (custom IF neuron type, no synaptic "
                       "delay), docs/backends.md", run=True)
BACKENDS.register_lazy("brian2", "ann2snn.backends.brian2.backend:BACKEND",
                       "Brian2 (synaptic delay 1; numpy code, or --brian2-target cython)",
                       run=True)
BACKENDS.register_lazy("nest", "ann2snn.backends.nest:BACKEND",
                       "NEST through PyNN (iaf_psc_delta, 1-step synaptic delay, reset to "
                       "zero), docs/backends.md", run=True)
BACKENDS.register_lazy("loihi", "ann2snn.backends.loihi.backend:BACKEND",
                       "Loihi 1 in nengo-loihi's emulator (integer mode, quantize --target "
                       "loihi; synaptic delay 1), docs/backends.md", run=True)


def get_backend(name: str, kind: str | None = None) -> Backend:
    """The registered backend ``name`` (``kind`` "export"/"run": one that offers it)."""
    return BACKENDS.get(name, kind)


def export(snn, target: str, out, **options):
    """Export ``snn`` (an SNN or a spiking Graph) with backend ``target`` into ``out``,
    e.g. ``export(snn, "c", "out/", x=samples, timesteps=32)``; returns the paths."""
    backend = BACKENDS.get(target, "export")
    backend.check(getattr(snn, "graph", snn), **options)
    backend.require()
    return backend.export(snn, out, **options)


def simulate(snn, data, backend: str = DEFAULT, **options):
    """Run ``snn`` on ``data`` with ``backend``: a SimulationResult, as ``snn.simulate``."""
    b = BACKENDS.get(backend, "run")
    b.check(getattr(snn, "graph", snn), **options)
    b.require()
    return b.run(snn, data, **options)
