"""A quantized network whose batches run in nengo-loihi's emulator: :class:`LoihiSNN`.

As the Nengo backend's NengoSNN (whose batch loop, readout replay and trace feeding it
reuses), with the spikes of every chip population from ``nengo_loihi.emulator.
EmulatorInterface`` (build.py's blocks; one emulator run per sample, the blocks built
once). The populations fed by the analog input run on the host, with the integer
simulator's own step (:func:`ann2snn.sim.integer.int_if_step`), as nengo-loihi runs an
off-chip layer; their spikes enter the chip through SpikeInputs, one step later. The
whole network runs at synaptic delay 1, the chip's.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ...ir.facts import populations
from ...sim.integer import int_if_init, int_if_params, int_if_step
from ..nengo.runner import NengoSNN
from ..projections import integer_expand, projections
from . import chip


class LoihiSNN(NengoSNN):
    """An integer-mode SNN whose chip populations run in nengo-loihi's emulator."""

    synaptic_delay = 1

    def __init__(self, graph, ann_graph=None, progress: bool = False):
        super().__init__(graph, ann_graph, lanes=None, progress=progress)
        self._projs = projections(graph, integer_expand)

    def close(self) -> None:
        self._built.clear()

    def _lanes_for(self, b: int, timesteps: int, record: bool) -> int:
        return b  # the emulator runs one sample at a time; _run_lanes loops over them

    def _model(self, lanes: int, record: bool):
        if record not in self._built:
            from .build import build

            self._built[record] = build(self.graph, record)
        return self._built[record]

    # -- the host: populations fed by the analog input -----------------------------
    def _host(self, name: str, x: np.ndarray, timesteps: int, record: bool) -> dict:
        """(T, b, n) spikes (and trace kinds) of host population ``name``."""
        node = self.graph[name]
        proj = self._projs[name]
        cur = torch.from_numpy(np.rint(proj.current(
            {s: x for s in proj.incoming})).astype(np.int64))
        p = int_if_params(self.graph, node, torch.device("cpu"))
        v = int_if_init(cur.shape, node, p, torch.device("cpu"))
        kinds: dict[str, list] = {"spikes": [], "current": [], "v_pre_reset": [], "v": []}
        for _ in range(timesteps):
            s, pre, v = int_if_step(cur, v, p)
            kinds["spikes"].append(s)
            if record:
                kinds["current"].append(cur)
                kinds["v_pre_reset"].append(pre)
                kinds["v"].append(v)
        return {k: torch.stack(a).numpy() for k, a in kinds.items() if a}

    # -- one "Nengo run": here, the batch, sample by sample ----------------------------
    def _run_lanes(self, presented: torch.Tensor, lanes: int, timesteps: int, record: bool
                   ) -> dict[str, dict[str, np.ndarray]]:
        from nengo_loihi.emulator import EmulatorInterface

        m = self._model(lanes, record)
        nb = presented.shape[1]
        x = presented[0].reshape(nb, -1).double().numpy()
        flat: dict[str, dict[str, np.ndarray]] = {
            h: self._host(h, x, timesteps, record) for h in m.host}
        chip_out: dict[str, dict[str, list]] = {p: {} for p in m.probes}
        limit = int(self.graph.quant.v_limit)
        for j in range(nb):
            for h, inp in m.inputs.items():
                inp.spikes.clear()
                spikes = flat[h]["spikes"][:, j]
                for t in range(timesteps):  # emitted at step t + 1, arrive at t + 2
                    inp.add_spikes(t + 1, np.flatnonzero(spikes[t]).tolist())
            with warnings.catch_warnings():
                # its int32 state arrays start from NaN fills (numpy warns about the cast)
                warnings.filterwarnings("ignore", "invalid value encountered in cast",
                                        RuntimeWarning)
                emu = EmulatorInterface(m.model, seed=0)
            with emu:
                emu.run_steps(timesteps)
                for p, kinds in m.probes.items():
                    got = {k: np.asarray(emu.collect_probe_output(pr)).reshape(timesteps, -1)
                           for k, pr in kinds.items()}
                    rec = {"spikes": got["spikes"].astype(np.int64)}
                    if record:
                        cur = got["current"].astype(np.int64) // chip.UNIT + \
                            np.rint(m.bias[p]).astype(np.int64)
                        v = -(-got["v"].astype(np.int64) // chip.UNIT)  # 64·v − δ, δ < 64
                        prev = np.concatenate([np.zeros_like(v[:1]), v[:-1]])
                        rec.update(current=cur, v=v,
                                   v_pre_reset=np.clip(prev + cur, -limit, limit))
                    for k, a in rec.items():
                        chip_out[p].setdefault(k, []).append(a)
        out: dict[str, dict[str, np.ndarray]] = {}
        for p in populations(self.graph):
            shape = tuple(self.graph.shapes[p.name])
            if p.name in flat:
                out[p.name] = {k: a.reshape(timesteps, nb, *shape) for k, a in
                               flat[p.name].items()}
            else:
                out[p.name] = {k: np.stack(a, 1).reshape(timesteps, nb, *shape)
                               for k, a in chip_out[p.name].items()}
        return out
