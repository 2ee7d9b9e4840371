"""Conversion passes, one small pass per file: ANN Graph -> spiking Graph."""

from .fold_batchnorm import fold_batchnorm
from .normalize import normalize, populations
from .simplify import max_to_avg, relu_before_maxpool, remove_identities
from .to_spiking import to_spiking, with_neuron_params

__all__ = ["fold_batchnorm", "normalize", "populations", "max_to_avg", "relu_before_maxpool",
           "remove_identities", "to_spiking", "with_neuron_params"]
