"""The semantic options of a conversion and a simulation, as enums.

Every public entry point (Python API, CLI, config files) accepts either the enum or its
string value and converts once, at the boundary, with :func:`coerce`; inside the
package only enums are passed around. Backends declare which values they support.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from ..errors import ConfigError

E = TypeVar("E", bound=enum.Enum)


class ResetMode(enum.Enum):
    """What happens to the membrane after a spike (docs/design.md §3)."""

    SUBTRACT = "subtract"  #: v <- v - theta * s  (reset by subtraction, the default)
    ZERO = "zero"  #: v <- v * (1 - s)


class Encoding(enum.Enum):
    """How the input reaches the first layer (docs/design.md §3)."""

    ANALOG = "analog"  #: the input itself, every step (constant current into layer 1)
    POISSON = "poisson"  #: Bernoulli(clip(x·rate, 0, 1)) spikes per step
    TTFS = "ttfs"  #: one spike per input at step round((1 − x)·(T − 1))


class SynapticDelay(enum.IntEnum):
    """Steps a spike takes along a connection out of a population (docs/design.md §3).

    An int enum: members compare and hash as 0 and 1, so backends declare plain ints.
    """

    NONE = 0  #: the spike of step t reaches the next population at t (INIsim's order)
    ONE_STEP = 1  #: it reaches it at t + 1 (clock-driven simulators: Brian2, NEST)


class Readout(enum.Enum):
    """What the prediction is read from."""

    SPIKE_COUNT = "spike_count"  #: argmax of the output population's spike counts
    MEMBRANE = "membrane"  #: argmax of a non-spiking output layer's membrane


class SoftmaxReadout(enum.Enum):
    """What a final softmax becomes in the SNN."""

    MEMBRANE = "membrane"  #: a non-spiking membrane readout (softmax is monotonic)
    SPIKES = "spikes"  #: a spiking output population (snntoolbox's softmax_to_relu)


class NormMethod(enum.Enum):
    """How each layer's scale λ is taken from the calibration activations."""

    PERCENTILE = "percentile"  #: the p-th percentile of the non-zero activations
    MAX = "max"  #: their maximum


class QuantScale(enum.Enum):
    """How integer mode chooses each population's integer threshold θ."""

    INTEGER = "integer"  #: any integer (the most precise)
    POW2 = "pow2"  #: a power of two (shifts instead of divisions on hardware)


def coerce(cls: type[E], value: E | str, what: str | None = None) -> E:
    """``value`` as a member of the enum ``cls``: a member passes, a string is looked up
    by value (case-insensitive), and for an int enum (:class:`SynapticDelay`) an int or
    a string of digits by value. Anything else raises :class:`ConfigError` naming
    ``what`` and the accepted values."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        for member in cls:
            if member.value == value.lower():
                return member
    if issubclass(cls, int) and not isinstance(value, bool):
        try:
            return cls(int(value) if isinstance(value, str) and value.strip().isdigit()
                       else value)
        except ValueError:
            pass
    choices = ", ".join(repr(m.value) for m in cls)
    raise ConfigError(f"{what or cls.__name__} must be one of {choices}, got {value!r}")
