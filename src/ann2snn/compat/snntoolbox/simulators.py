"""``[simulation] simulator``: which ann2snn backend runs an SNN Toolbox config.

snntoolbox ran converted networks in its own INIsim or exported them to Brian2 and,
through pyNN, to NEST, NEURON and SpiNNaker. ``INI`` is the built-in simulator (synaptic
delay 0, INIsim's order); ``brian2`` and ``nest`` are ann2snn's backends of those names,
which deliver a spike one step later, so they run with ``synaptic_delay = 1`` (the
built-in simulator gives the same spikes with that option, docs/design.md §3).

The backend is looked up in the registry and its package imported here, before any
work starts: a missing one is the registry's "pip install 'ann2snn[nest]'" error, and
what the backend does not implement (NEST resets to a fixed potential, so
``reset = Reset by subtraction`` cannot run there; Poisson input) is an error naming
the INI key to change.
"""

from __future__ import annotations

from typing import Any

from ...ir.options import Encoding, ResetMode

#: snntoolbox's simulator names -> ann2snn backend names
SIMULATORS = {"INI": "ann2snn", "brian2": "brian2", "nest": "nest"}
_UNTESTED = {"spiNNaker": "SpiNNaker via pyNN.spiNNaker is untested here "
                          "(docs/backends.md says how the nest backend would target it)",
             "Nest": "snntoolbox spells it 'nest'"}
_RESETS = {"Reset by subtraction": ResetMode.SUBTRACT, "Reset to zero": ResetMode.ZERO}
_RESET_NAMES = {ResetMode.SUBTRACT: "Reset by subtraction", ResetMode.ZERO: "Reset to zero"}


def simulator_backend(v) -> dict[str, Any]:
    """The ``simulation`` keys of the RunConfig for ``[simulation] simulator``
    (``backend``, ``synaptic_delay``); errors go to ``v`` (a Values)."""
    from ...backends import BACKENDS, Arithmetic, BackendUnavailable, UnknownBackend

    sim = v.get("simulation", "simulator")
    name = SIMULATORS.get(sim)
    if name is None:
        why = _UNTESTED.get(sim, "not one ann2snn runs")
        v.error("simulation", "simulator", f"{why}; set simulator = INI (ann2snn's own "
                "simulator, INIsim's semantics), brian2 or nest")
        return {}
    if name == "ann2snn":
        return {}
    try:
        backend = BACKENDS.get(name, "run")
        backend.require(load=False)
    except (UnknownBackend, BackendUnavailable) as e:
        v.error("simulation", "simulator", str(e))
        return {}
    sup = backend.supports.get(Arithmetic.FLOAT) or next(iter(backend.supports.values()))
    reset = _RESETS.get(v.get("cell", "reset"))
    if reset is not None and reset not in sup.reset:
        ok = " or ".join(f"'{_RESET_NAMES[r]}'" for r in sorted(sup.reset, key=str))
        v.error("cell", "reset", f"the {name} backend (simulator = {sim}) cannot run "
                f"'{_RESET_NAMES[reset]}' (its neurons reset to a fixed potential); set "
                f"reset = {ok} "
                "(ann2snn convert --reset zero), or simulator = INI")
    if v.get("input", "poisson_input") and Encoding.POISSON not in sup.encoding:
        v.error("input", "poisson_input", f"the {name} backend takes analog input only; "
                "set poisson_input = False, or simulator = INI")
    delays = sorted(sup.synaptic_delay)
    return {"backend": name, "synaptic_delay": 1 if 1 in delays else delays[0]}
