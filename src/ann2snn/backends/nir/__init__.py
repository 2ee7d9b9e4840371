"""NIR (the Neural Intermediate Representation, nir >= 1.0.8) out and in.

:func:`export_nir` writes a spiking Graph as a NIR file; :func:`read_nir` reads a NIR
file back into a spiking Graph that the built-in simulator runs. The populations keep
docs/design.md §3 exactly in discrete time (dt = 1): reset by subtraction is an
integrator ``I``, a ``Threshold`` and a recurrent ``Scale(−θ)``; reset to zero is NIR's
``IF``; a membrane readout is an ``I``. The mapping, the metadata and what is refused:
docs/backends.md, "NIR". ``checks`` imports no nir (the backend checks a network first).
"""

from __future__ import annotations

from .export import export_nir, to_nir
from .read import from_nir, read_nir

__all__ = ["export_nir", "to_nir", "read_nir", "from_nir"]
