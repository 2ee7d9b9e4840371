"""One batch of samples as one PyNN network: built, run for T steps, read back.

Every sample gets its own copy of the network (populations of ``B × size`` neurons), so
a batch is one simulation and no state crosses from one sample to the next: the kernel
is set up afresh for every batch (``sim.setup``). The mapping (docs/backends.md,
"NEST (PyNN)"):

- neuron: ``IF_curr_delta`` on the grid (NEST ``iaf_psc_delta``), ``v_rest = v_reset =
  0``, ``v_thresh = θ``, ``tau_refrac = 0``, ``tau_m = 2^60`` ms, so that NEST's
  propagator ``P33 = exp(-h/τ)`` is exactly 1.0 in float64: no leak at all. Then
  ``P30 = (1 - P33)·τ/C`` is exactly 0, so NEST would drop any current (``i_offset``,
  a DC source); the constant drive (bias, and the analog input's ``W ⊛ x``) therefore
  arrives as a delta synapse from a clock source that spikes once per step, which adds
  it to ``V_m`` exactly as ``v ← v + I`` does;
- one ann2snn step = 1 ms = one NEST step (resolution 1 ms), every synapse 1 ms;
- PyNN's ``SpikeSourceArray`` relays through a parrot neuron, so its first spike that
  can reach a neuron arrives in NEST step 3: ann2snn step t is NEST step t + 2 (the first
  two steps only hold ``V_m = v0 < θ``) and a run of T steps simulates T + 2 ms.
"""

from __future__ import annotations

import numpy as np

from ..connections import Connections
from .plan import PopulationPlan

#: NEST steps before the first one that receives input (see the module docstring)
OFFSET = 2
TAU_M = 2.0 ** 60  #: ms: exp(-1/2^60) rounds to 1.0, so the membrane never decays
NEVER = 1e300  #: mV: the threshold of a population that only integrates (membrane readout)


def _cell(sim, threshold: np.ndarray, membrane_readout: bool):
    class IFDelta(sim.IF_curr_delta):
        # PyNN 0.13 lacks this map for IF_curr_delta on NEST, so it can neither set nor
        # record the membrane; NEST's name for v is V_m
        variable_map = {"v": "V_m"}

    return IFDelta(tau_m=TAU_M, cm=1e-3, v_rest=0.0, v_reset=0.0, tau_refrac=0.0,
                   i_offset=0.0, v_thresh=np.full(threshold.shape, NEVER)
                   if membrane_readout else threshold)


def _tile(c: Connections, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pre, post, weight) of ``b`` independent copies of ``c``."""
    k = np.arange(b)[:, None]
    return ((c.pre[None, :] + k * c.n_pre).reshape(-1),
            (c.post[None, :] + k * c.n_post).reshape(-1),
            np.broadcast_to(c.weight, (b, len(c))).reshape(-1))


def _connect(sim, pre, post, i, j, w) -> None:
    """Synapses ``pre[i] -> post[j]`` of weight ``w`` and delay 1 step.

    On NEST the lists go to ``nest.Connect`` in one call (exact float64 weights, in mV);
    PyNN's ``FromListConnector`` connects one target neuron at a time (about 200 s for
    one MNIST LeNet) and its unit conversion (× 1000, then × 1e-3) moves 14 % of float
    weights by one ulp. Other PyNN simulators get the ``FromListConnector``.
    """
    if sim.__name__ == "pyNN.nest":
        import nest

        nest.Connect(np.asarray(pre.first_id + i, np.int64),
                     np.asarray(post.first_id + j, np.int64), "one_to_one",
                     {"synapse_model": "static_synapse", "weight": np.asarray(w, np.float64),
                      "delay": np.ones(len(i))})
        return
    rows = np.column_stack([i, j, w, np.ones(len(i))])
    sim.Projection(pre, post, sim.FromListConnector(rows), receptor_type="excitatory")


def _spike_recorder(sim, pop):
    """Record the spikes of ``pop``: on NEST a ``spike_recorder`` of its own, read back
    as NEST's (senders, times) arrays (PyNN's reader matches every spike against an
    object array of cell ids: about 18 s per batch of ten LeNets); elsewhere PyNN's."""
    if sim.__name__ == "pyNN.nest":
        import nest

        rec = nest.Create("spike_recorder")
        nest.Connect(pop.node_collection, rec)
        return rec
    pop.record("spikes")
    return None


def _spikes(rec, pop) -> tuple[np.ndarray, np.ndarray]:
    """(neuron ids, spike times in ms) recorded from ``pop``."""
    if rec is not None:
        ev = rec.get("events")
        return np.asarray(ev["senders"], np.int64), np.asarray(ev["times"], np.float64)
    trains = pop.get_data("spikes").segments[0].spiketrains
    ids = [np.full(len(t), int(t.annotations["source_id"]), np.int64) for t in trains]
    times = [np.asarray(t.magnitude, np.float64) for t in trains]
    return (np.concatenate(ids) if ids else np.zeros(0, np.int64),
            np.concatenate(times) if times else np.zeros(0))


def run_network(sim, plans: list[PopulationPlan], drives: dict[str, np.ndarray],
                timesteps: int, threads: int = 1, record_v: bool = False
                ) -> dict[str, np.ndarray]:
    """Simulate one batch; per population its spikes ``(T, B, size)`` (uint8) or, for a
    membrane readout, its membrane ``(T, B, size)`` after each step; with ``record_v``
    (traces) also ``"<name>/v"``, every population's membrane after each step.

    ``drives``: per population the constant input of every neuron, ``(B, size)``."""
    b = len(next(iter(drives.values())))
    sim.setup(timestep=1.0, min_delay=1.0, max_delay=1.0, spike_precision="on_grid",
              verbosity="error", threads=threads)
    clock = sim.Population(1, sim.SpikeSourceArray(
        spike_times=np.arange(OFFSET, OFFSET + timesteps, dtype=np.float64)), label="clock")
    pops, recorders = {}, {}
    for p in plans:
        th = np.tile(p.threshold, b)
        pop = sim.Population(b * p.size, _cell(sim, th, p.membrane_readout),
                             initial_values={"v": np.tile(p.v0, b)}, label=p.name)
        if p.membrane_readout or record_v:
            pop.record("v")
        if not p.membrane_readout:
            recorders[p.name] = _spike_recorder(sim, pop)
        pops[p.name] = pop
        drive = drives[p.name].reshape(-1)
        post = np.flatnonzero(drive)
        if len(post):
            _connect(sim, clock, pop, np.zeros(len(post), np.int64), post, drive[post])
        for src, c in p.incoming.items():
            if len(c):
                _connect(sim, pops[src], pop, *_tile(c, b))
    sim.run(float(timesteps + OFFSET))
    out = {}
    for p in plans:
        if p.membrane_readout or record_v:
            seg = pops[p.name].get_data("v").segments[0]
            sig = np.asarray(seg.analogsignals[0], np.float64)  # (times 0..T+OFFSET, neurons)
            idx = np.asarray(seg.analogsignals[0].array_annotations["channel_index"])
            v = np.empty((timesteps, b * p.size))
            v[:, idx] = sig[OFFSET + 1:OFFSET + 1 + timesteps]
            out[p.name + "/v"] = v.reshape(timesteps, b, p.size)
        if p.membrane_readout:
            out[p.name] = out.pop(p.name + "/v") if not record_v else out[p.name + "/v"]
        else:
            s = np.zeros((timesteps, b * p.size), np.uint8)
            ids, times = _spikes(recorders[p.name], pops[p.name])
            step = np.rint(times).astype(np.int64) - OFFSET - 1
            keep = step < timesteps  # PyNN simulates one min_delay past the end
            s[step[keep], ids[keep] - int(pops[p.name].first_id)] = 1
            out[p.name] = s.reshape(timesteps, b, p.size)
    sim.end()
    return out
