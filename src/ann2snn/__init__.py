"""ann2snn: convert trained neural networks into spiking networks, simulate, explain, deploy.

The public names are imported lazily, so that ``ann2snn --help`` does not load torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "convert": "api", "load": "api", "simulate": "api", "SNN": "network",
    "SimulationResult": "results",
    "export": "backends",
    "Graph": "ir", "ResetMode": "ir", "Encoding": "ir", "Readout": "ir", "NormMethod": "ir",
    "SoftmaxReadout": "ir", "QuantScale": "ir",
    "SynapticDelay": "ir",
    "QuantSpec": "quantize",
    "Ann2SnnError": "errors", "ConversionError": "errors",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'ann2snn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
