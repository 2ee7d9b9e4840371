"""ann2snn's IF population as a Nengo neuron type (docs/design.md §3), step for step.

Nengo's own ``SpikingRectifiedLinear`` is not the same neuron: it integrates
``max(J, 0)`` (a negative current never lowers the membrane), emits ``floor(v)`` spikes
in one step (several at once), starts from a random membrane (Uniform(0, 1)) and has
no reset to zero. :class:`IFNeurons` implements ours instead:

    v ← v·(1 − leak) + J           (J: the step's input current, dt = 1)
    v ← clip(v, −L, L)             (integer mode only: the saturating membrane)
    s = [v ≥ θ]                    (multi-spike: clip(⌊v/θ⌋, 0, s_max))
    v ← v − θ·s  (SUBTRACT)  or  v ← 0 where s > 0  (ZERO)

with a threshold θ per neuron (a per-channel integer threshold is repeated over the
channel's neurons). Nengo scales a spiking neuron's output by 1/dt; the backend runs
at dt = 1, so the output is exactly s. :class:`IFMembrane` is the membrane-readout
output layer: it integrates and outputs v without spiking.

This module imports nengo: only the backend's ``run`` imports it.
"""

from __future__ import annotations

import numpy as np
from nengo.dists import Choice
from nengo.neurons import NeuronType
from nengo.params import BoolParam, IntParam, NdarrayParam, NumberParam


class IFNeurons(NeuronType):
    """Integrate-and-fire neurons with ann2snn's step (module docstring)."""

    state = {"voltage": Choice([0.0]), "v_pre_reset": Choice([0.0])}
    spiking = True
    negative = False

    threshold = NdarrayParam("threshold", shape=("*",))
    reset_zero = BoolParam("reset_zero")
    leak = NumberParam("leak", low=0, high=1)
    multi_spike = IntParam("multi_spike", low=1)
    limit = NumberParam("limit", low=0, optional=True)

    def __init__(self, threshold, reset_zero: bool = False, leak: float = 0.0,
                 multi_spike: int = 1, limit: float | None = None, initial_state=None):
        super().__init__(initial_state)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.reset_zero = reset_zero
        self.leak = leak
        self.multi_spike = multi_spike
        self.limit = limit

    def max_rates_intercepts(self, gain, bias):
        """Not meaningful here (the gains and biases are given); Nengo's default would
        simulate every neuron to find them."""
        nan = np.full(np.shape(gain), np.nan)
        return nan, nan.copy()

    def _integrate(self, J, voltage, v_pre_reset) -> None:
        if self.leak:
            voltage *= 1.0 - self.leak
        voltage += J
        if self.limit is not None:
            np.clip(voltage, -self.limit, self.limit, out=voltage)
        v_pre_reset[...] = voltage

    def step(self, dt, J, output, voltage, v_pre_reset):
        self._integrate(J, voltage, v_pre_reset)
        th = self.threshold
        if self.multi_spike > 1:
            s = np.clip(np.floor(voltage / th), 0, self.multi_spike)
        else:
            s = (voltage >= th).astype(voltage.dtype)
        if self.reset_zero:
            voltage[s > 0] = 0.0
        else:
            voltage -= th * s
        output[...] = s / dt


class IFMembrane(IFNeurons):
    """The membrane-readout output layer: integrates like :class:`IFNeurons` and
    outputs its membrane v (no spike, no reset)."""

    spiking = False
    negative = True

    def step(self, dt, J, output, voltage, v_pre_reset):
        self._integrate(J, voltage, v_pre_reset)
        output[...] = voltage
