"""A converted network whose batches run in Nengo: :class:`NengoSNN`.

It is an :class:`ann2snn.SNN` whose ``run_batch`` simulates in Nengo's reference
simulator (build.py) instead of ann2snn's, so everything built on ``run_batch`` is the
same code for both: ``simulate`` (the data-set loop, the ANN beside it, the
diagnostics, the example trace, hence the run folder), ``record_trace`` and
``TraceRecorder`` (hence ``ann2snn diff``).

From Nengo's spikes, the batch's readout, predictions per step, spike counts and
synaptic-operation counts are computed by the simulators' own window loop
(sim/windows.py) with every population's scan replaced by "the spikes Nengo emitted":
the same readout rule (ties, no spike = −1) and the same event counting. A traced run
hands the probe Nengo's own currents, membranes and spikes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import SimulationError
from ...ir import is_quantized
from ...ir.facts import populations
from ...ir.options import Encoding, coerce
from ...network import SNN
from ...sim import pooling
from ...sim.encoders import element_keys, poisson_window, ttfs_window
from ...sim.simulator import plan_windows
from ...sim.windows import BatchOutput, WindowOps, run_windows

#: bytes the probed outputs of one Nengo run may take (float64, every step)
PROBE_BUDGET = 256 << 20
#: synapses (over all lanes) above which fewer lanes are built
SYNAPSE_BUDGET = 20_000_000


class NengoSNN(SNN):
    """An SNN simulated by Nengo. ``lanes``: samples per Nengo run (None: as many as
    the batch has, within :data:`PROBE_BUDGET` and :data:`SYNAPSE_BUDGET`)."""

    #: the synaptic delay of the simulated spikes (the replay counts events by it)
    synaptic_delay = 0

    def __init__(self, graph, ann_graph=None, lanes: int | None = None,
                 progress: bool = False):
        super().__init__(graph, ann_graph)
        self.lanes = lanes
        self.build_progress = progress
        self._built: dict[tuple[int, bool], object] = {}
        self._synapses: int | None = None

    def close(self) -> None:
        for b in self._built.values():
            b.sim.close()
        self._built.clear()

    # -- the Nengo model ---------------------------------------------------------------
    def _lanes_for(self, b: int, timesteps: int, record: bool) -> int:
        if self.lanes is not None:
            return max(1, min(self.lanes, b))
        neurons = sum(math.prod(self.graph.shapes[p.name]) for p in populations(self.graph))
        per_lane = 8 * timesteps * neurons * (4 if record else 1)
        if self._synapses is None:
            from ..projections import projections

            self._synapses = sum(len(c) for p in projections(self.graph).values()
                                 for c in p.incoming.values())
        by_mem = PROBE_BUDGET // max(per_lane, 1)
        by_syn = SYNAPSE_BUDGET // max(self._synapses, 1)
        return max(1, min(b, by_mem, by_syn))

    def _model(self, lanes: int, record: bool):
        key = (lanes, record)
        if key not in self._built:
            from .build import build

            self._built[key] = build(self.graph, lanes, record, self.build_progress)
        return self._built[key]

    # -- one batch -----------------------------------------------------------------
    @torch.no_grad()
    def run_batch(self, x, timesteps: int, encoding: Encoding | str = Encoding.ANALOG,
                  window: int | None = None, seed: int = 0, sample_index=None,
                  input_rate: float = 1.0, probe=None, count_ops: bool = True,
                  **_) -> BatchOutput:
        """Simulate one batch in Nengo; the interface and result of the simulators'
        ``run_batch``."""
        encoding = coerce(Encoding, encoding, "encoding")
        integer = is_quantized(self.graph)
        if timesteps < 1:
            raise SimulationError(f"timesteps must be >= 1, got {timesteps}")
        if integer:
            from ...sim.integer import quantize_input

            xs = quantize_input(x, self.graph)
            if encoding is not Encoding.ANALOG:
                raise SimulationError("integer mode supports analog input only")
        else:
            xs = torch.as_tensor(x, dtype=torch.float32).cpu()
            if not torch.isfinite(xs).all():
                raise SimulationError("input contains NaN or Inf")
        if tuple(xs.shape[1:]) != tuple(self.graph.input_shape):
            raise SimulationError(f"input has shape {tuple(xs.shape[1:])} per sample; the "
                                  f"network expects {tuple(self.graph.input_shape)}")
        b = xs.shape[0]
        if sample_index is None:
            sample_index = torch.arange(b)
        presented = self._presented(xs, timesteps, encoding, seed, sample_index, input_rate)
        lanes = self._lanes_for(b, timesteps, probe is not None)
        rec: dict[str, dict[str, np.ndarray]] = {}
        for i in range(0, b, lanes):
            part = self._run_lanes(presented[:, i:i + lanes], lanes, timesteps,
                                   probe is not None)
            for name, kinds in part.items():
                for kind, arr in kinds.items():
                    rec.setdefault(name, {}).setdefault(kind, []).append(arr)
        rec = {nm: {k: np.concatenate(v, 1) for k, v in kinds.items()}
               for nm, kinds in rec.items()}
        if probe is not None:
            self._feed_probe(probe, presented, rec, timesteps, integer)
        return self._replay(xs, presented, rec, timesteps, window, count_ops)

    def _presented(self, xs, timesteps, encoding, seed, sample_index, input_rate
                   ) -> torch.Tensor:
        """The input as presented: (1, B, ...) for analog input, else (T, B, ...)."""
        if encoding is Encoding.ANALOG:
            return xs[None]
        if encoding is Encoding.POISSON:
            keys = element_keys(seed, torch.as_tensor(sample_index), xs[0].numel())
            return poisson_window(xs, keys, 0, timesteps, input_rate)
        return ttfs_window(xs, 0, timesteps, timesteps)

    def _run_lanes(self, presented: torch.Tensor, lanes: int, timesteps: int, record: bool
                   ) -> dict[str, dict[str, np.ndarray]]:
        """One Nengo run of up to ``lanes`` samples: per population and kind, (T, b, ...)."""
        m = self._model(lanes, record)
        nb = presented.shape[1]
        vals = presented.reshape(presented.shape[0], nb, -1).double().numpy()
        if nb < lanes:  # pad the free lanes with zeros; their outputs are dropped
            vals = np.concatenate([vals, np.zeros((vals.shape[0], lanes - nb, vals.shape[2]))], 1)
        m.feed.values = vals.reshape(vals.shape[0], -1)
        m.feed.static = vals.shape[0] == 1
        m.sim.reset()
        m.sim.run_steps(timesteps)
        out: dict[str, dict[str, np.ndarray]] = {}
        for name, kinds in m.probes.items():
            shape = tuple(self.graph.shapes[name])
            out[name] = {k: m.sim.data[p].reshape(timesteps, lanes, *shape)[:, :nb]
                         for k, p in kinds.items()}
        return out

    def _feed_probe(self, probe, presented, rec, timesteps: int, integer: bool) -> None:
        """Hand ``probe`` the input and Nengo's values, in the simulators' order."""
        dt = torch.int64 if integer else torch.float32

        def as_t(a):
            return torch.from_numpy(np.ascontiguousarray(a)).to(dt)

        for node in self.graph:
            if not node.inputs:
                v = presented.expand(timesteps, *presented.shape[1:]) \
                    if presented.shape[0] == 1 else presented
                probe(node.name, "spikes", v.to(dt), 0)
            elif node.population:
                r = rec[node.name]
                for kind in ("current", "v_pre_reset", "v"):
                    probe(node.name, kind, as_t(r[kind]), 0)
                if not node.membrane_readout:
                    probe(node.name, "spikes", as_t(r["spikes"]), 0)

    def _replay(self, xs, presented, rec, timesteps: int, window, count_ops: bool
                ) -> BatchOutput:
        """The batch output of Nengo's spikes, through the simulators' window loop."""
        integer = is_quantized(self.graph)
        b = xs.shape[0]
        dt = torch.int64 if integer else torch.float32
        spikes = {nm: torch.from_numpy(np.ascontiguousarray(r["spikes"])).to(dt)
                  for nm, r in rec.items()}
        if integer:
            from ...sim.integer import _params
            from ...sim.integer_ops import int_apply, spiking_maxpool

            prm = _params(self, torch.device("cpu"))

            def apply(node, ins):
                return int_apply(node, ins, prm)
            maxpool = spiking_maxpool
        else:
            apply, maxpool = self._sim_apply, pooling.spiking_maxpool
        inp = presented.to(dt)

        def inputs(t0, k):
            return (inp[0], True) if inp.shape[0] == 1 else (inp[t0:t0 + k], False)

        def scan(node, cur, st, k, static, t0):
            return spikes[node.name][t0:t0 + k], st

        ops = WindowOps(inputs, lambda node, shape: None, scan, maxpool, apply, self._fanout_of)
        window = window or plan_windows(self.graph, b, timesteps, None, 4,
                                        torch.device("cpu"), False)[0]
        binary = (set() if integer else self._binary) if count_ops else None
        return run_windows(self.graph, ops, b, timesteps, window, None, binary,
                           self.synaptic_delay)
