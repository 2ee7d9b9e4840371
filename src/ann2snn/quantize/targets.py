"""Quantization targets: integer mode within a chip's limits (``quantize(snn,
target="loihi")``, ``ann2snn quantize --target loihi``).

A :class:`TargetProfile` is the QuantSpec a chip implies (widths and the limits of
target_limits.py), what it changes in the spiking network before quantizing (Loihi:
reset to zero), and the graph facts it sets afterwards (Loihi: synaptic delay 1). The
profiles live with their backends and are registered here lazily by name, so importing
the quantizer imports no backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ConfigError

#: target name -> "module:attribute" of its TargetProfile
TARGETS = {"loihi": "ann2snn.backends.loihi.profile:PROFILE"}


@dataclass(frozen=True)
class TargetProfile:
    name: str
    description: str
    spec: dict  #: QuantSpec fields; a caller may not override them
    #: the spiking graph made fit before quantizing (may raise naming what cannot)
    prepare: Callable = field(default=lambda graph: graph)
    #: graph.meta entries of the result (e.g. {"synaptic_delay": 1})
    meta: dict = field(default_factory=dict)


def get_target(name: str) -> TargetProfile:
    """The profile of target ``name``; an unknown name lists the known ones."""
    if name not in TARGETS:
        raise ConfigError(f"unknown quantization target {name!r}; known targets: "
                          + ", ".join(sorted(TARGETS)))
    module, attr = TARGETS[name].split(":")
    return getattr(importlib.import_module(module), attr)
