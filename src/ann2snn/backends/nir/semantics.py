"""The two rules that make NIR's ``v > θ`` fire exactly when ann2snn's ``v ≥ θ`` does,
and the metadata keys of an exported file (docs/backends.md, "NIR").

ann2snn's simulator keeps membranes in float32. For float32 ``v``,
``v ≥ θ ⇔ v > below(θ)`` where ``below(θ)`` is the largest float32 under θ; so an
exported ``Threshold``/``IF`` holds ``below(θ)``, and a read threshold ``t`` becomes
``above(t)``, the smallest float32 over ``t``.
"""

from __future__ import annotations

import numpy as np

#: metadata["format"] of a file ann2snn wrote
FORMAT = "ann2snn-nir"
FORMAT_VERSION = 1
#: the metadata key holding the spiking Graph's own meta, as JSON
GRAPH_META = "ann2snn_graph_meta"


def below(theta) -> np.ndarray:
    """The largest float32 under ``theta``: ``v > below(θ) ⇔ v ≥ θ`` for float32 v."""
    t = np.asarray(theta, dtype=np.float32)
    return np.nextafter(t, np.float32(-np.inf)).astype(np.float32)


def above(threshold) -> np.ndarray:
    """The smallest float32 over ``threshold``: ``v ≥ above(t) ⇔ v > t`` for float32 v."""
    t = np.asarray(threshold, dtype=np.float32)
    return np.nextafter(t, np.float32(np.inf)).astype(np.float32)
