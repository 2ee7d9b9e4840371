"""ann2snn: convert trained neural networks into spiking networks, simulate, explain, deploy."""

__version__ = "0.1.0"

from .api import SNN, convert, load  # noqa: E402
from .errors import Ann2SnnError, ConversionError  # noqa: E402
from .ir import Graph, ResetMode  # noqa: E402
from .results import SimulationResult  # noqa: E402
from .sim.encoders import Encoding  # noqa: E402

__all__ = ["convert", "load", "SNN", "SimulationResult", "Graph", "ResetMode", "Encoding",
           "Ann2SnnError", "ConversionError", "__version__"]
