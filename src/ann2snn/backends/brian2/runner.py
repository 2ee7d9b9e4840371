"""Batches through the Brian2 network: the simulator's ``run_batch`` interface, so that
the data-set loop (analysis/evaluate.py) — ANN alongside, diagnostics, progress bar,
example trace, traces through a ``probe`` — is the built-in simulator's own.

A network is built once for ``copies`` samples (build.py), stored, and restored before
every batch; a shorter last batch is padded with zero inputs whose outputs are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import time

import numpy as np
import torch

from ...errors import SimulationError
from ...ir import Graph
from ...ir.options import Encoding, coerce
from ...sim.windows import BatchOutput, readout_window
from ..replay_sops import synaptic_ops
from .build import MONITORED, Built, build

log = logging.getLogger(__name__)

#: Brian2 code generation targets: numpy needs no compiler; cython compiles C extensions
TARGETS = ("numpy", "cython")


@contextlib.contextmanager
def codegen_target(target: str):
    """Brian2's ``prefs.codegen.target`` set to ``target`` while building and running."""
    import brian2 as b2

    old = b2.prefs.codegen.target
    b2.prefs.codegen.target = target
    try:
        yield
    finally:
        b2.prefs.codegen.target = old


class Brian2Net:
    """What ``analysis.evaluate.evaluate`` needs of a network, run by Brian2."""

    def __init__(self, graph: Graph, ann_graph: Graph | None = None, copies: int = 16,
                 target: str = "numpy"):
        if target not in TARGETS:
            raise SimulationError(f"unknown Brian2 code target {target!r}; choose one of "
                                  + ", ".join(TARGETS))
        self.graph, self.ann_graph = graph, ann_graph
        self.copies, self.target = max(1, int(copies)), target
        self._built: dict[tuple, Built] = {}
        self.build_time_s = 0.0

    # -- the parts of the simulator's interface that evaluate() uses -------------------
    @property
    def readout_mode(self) -> str:
        return self.graph.readout.value

    def to(self, device):
        return self

    def params_device(self) -> torch.device:
        return torch.device("cpu")

    def run_batch(self, x, timesteps: int, encoding: Encoding | str = Encoding.ANALOG,
                  window: int | None = None, seed: int = 0, sample_index=None,
                  input_rate: float = 1.0, probe=None, synaptic_delay: int = 1,
                  **_ignored) -> BatchOutput:
        """Simulate the samples ``x`` (B, ...) for ``timesteps`` steps in Brian2."""
        import brian2 as b2

        if coerce(Encoding, encoding, "encoding") is not Encoding.ANALOG:
            raise SimulationError("the brian2 backend takes analog input only")
        if int(synaptic_delay) != 1:
            raise SimulationError("Brian2 delivers spikes one step later: synaptic_delay "
                                  "must be 1 (CLI: --synaptic-delay 1)")
        if timesteps < 1:
            raise SimulationError(f"timesteps must be >= 1, got {timesteps}")
        xs = self._inputs(x)
        b = len(xs)
        if b > self.copies:  # evaluate() batches by batch_size; run in pieces of `copies`
            parts = [self.run_batch(x[i:i + self.copies], timesteps, probe=probe,
                                    synaptic_delay=synaptic_delay)
                     for i in range(0, b, self.copies)]
            return _concat(parts)
        copies = b if probe is not None else self.copies  # traces: no padded copies
        record = ("current", "v_pre_reset", "v", "count") if probe is not None else ("count",)
        with codegen_target(self.target):
            key = (copies, record)
            t0 = time.perf_counter()
            if key not in self._built:
                self._built[key] = build(self.graph, copies, record)
                self._built[key].net.store("init")
            bt = self._built[key]
            bt.net.restore("init")
            self._set_inputs(bt, xs)
            bt.net.run(timesteps * b2.defaultclock.dt, namespace={})
            self.build_time_s += time.perf_counter() - t0
        return self._outputs(bt, b, timesteps, xs, probe)

    # -- internals ------------------------------------------------------------------
    def _inputs(self, x) -> np.ndarray:
        """Samples as float64 arrays of what the first layer receives (integer mode: the
        quantized integers, sim/integer.py)."""
        if self.graph.quant is not None:
            from ...sim.integer import quantize_input

            return quantize_input(x, self.graph).numpy().astype(np.float64)
        x = torch.as_tensor(x).cpu().numpy()
        if not np.all(np.isfinite(x)):
            raise SimulationError("input contains NaN or Inf")
        return x.astype(np.float32).astype(np.float64)

    def _set_inputs(self, bt: Built, xs: np.ndarray) -> None:
        flat = xs.reshape(len(xs), -1)
        if len(flat) < bt.copies:
            flat = np.concatenate([flat, np.zeros((bt.copies - len(flat), flat.shape[1]))])
        for name, g in bt.groups.items():
            p = bt.inputs[name]
            cur = np.broadcast_to(p.bias, (bt.copies, bt.sizes[name])).copy()
            for source, c in p.incoming.items():
                if source in self.graph.inputs:
                    cur += c.apply(flat)
            g.I_in = cur.reshape(-1)
            g.v = np.tile(bt.v_init[name], bt.copies)

    def _outputs(self, bt: Built, b: int, timesteps: int, xs: np.ndarray, probe
                 ) -> BatchOutput:
        graph, out = self.graph, self.graph[self.graph.output]
        shapes = graph.shapes

        def monitored(name: str, var: str) -> np.ndarray:  # (T, b, *shape)
            a = np.array(getattr(bt.monitors[(name, var)], MONITORED[var]))  # a copy: Brian2
            # reuses its arrays when the network is restored for the next batch
            a = a.reshape(bt.copies, bt.sizes[name], timesteps)[:b]
            return np.moveaxis(a, -1, 0).reshape(timesteps, b, *shapes[name])

        emitted = {name: monitored(name, "v") if graph[name].membrane_readout
                   else np.diff(monitored(name, "count"), axis=0, prepend=0)
                   for name in bt.groups}
        counts = {name: torch.from_numpy(s.sum(0)) for name, s in emitted.items()
                  if not graph[name].membrane_readout}
        s_out = torch.from_numpy(emitted[out.name].reshape(timesteps, b, -1))
        if graph.quant is not None:
            s_out = s_out.round().to(torch.int64)
        readout, pred = readout_window(s_out, None, out.membrane_readout)
        if probe is not None:
            self._probe(bt, probe, b, timesteps, xs, monitored)
        sops = synaptic_ops(graph, xs, emitted, timesteps, 1)
        return BatchOutput(readout=readout, predictions=pred, counts=counts, sops=sops)

    def _probe(self, bt: Built, probe, b: int, timesteps: int, xs: np.ndarray, monitored
               ) -> None:
        """Every traced value, in the built-in simulator's order and dtypes."""
        integer = self.graph.quant is not None

        def tensor(a: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.ascontiguousarray(a))
            return t.round().to(torch.int64) if integer else t.to(torch.float32)

        for node in self.graph:
            if not node.inputs:
                probe(node.name, "spikes", tensor(np.broadcast_to(
                    xs[None], (timesteps, *xs.shape))), 0)
            elif node.population:
                for kind in ("current", "v_pre_reset", "v"):
                    probe(node.name, kind, tensor(monitored(node.name, kind)), 0)
                if not node.membrane_readout:
                    s = np.diff(monitored(node.name, "count"), axis=0, prepend=0)
                    probe(node.name, "spikes", tensor(s), 0)



def _concat(parts: list[BatchOutput]) -> BatchOutput:
    return BatchOutput(readout=torch.cat([p.readout for p in parts]),
                       predictions=torch.cat([p.predictions for p in parts], 1),
                       counts={k: torch.cat([p.counts[k] for p in parts]) for k in parts[0].counts},
                       sops={k: sum(p.sops[k] for p in parts) for k in parts[0].sops})
