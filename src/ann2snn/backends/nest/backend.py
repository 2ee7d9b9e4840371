"""The "nest" backend: the converted network as a PyNN network, simulated by NEST.

``run`` goes through the same data-set loop as the built-in simulator
(analysis/evaluate.py) with a stand-in network whose ``run_batch`` builds and runs one
PyNN network per batch (network.py) in a spawned worker process (worker.py: NEST
never runs in the caller's process), so the result, its metrics and its run folder are
those of ``snn.simulate(..., synaptic_delay=1)``. What is mapped and why:
docs/backends.md, "NEST (PyNN)".
"""

from __future__ import annotations

import numpy as np
import torch

from ...ir import ResetMode
from ...ir import nodes as n
from ...ir.options import Encoding, SynapticDelay, coerce
from ..base import Arithmetic, Backend, Problem, Supports
from ..connections import EXPAND
from .plan import integer_limit, plan, refusals
from .trace import feed_probe
from .worker import Worker

#: synaptic delay in steps that NEST imposes on every connection
DELAY = 1
#: synapses in one NEST network at most (about 1.5 GB): bounds the samples per batch
MAX_SYNAPSES = 20_000_000
_NODES = frozenset({n.Input, n.IF, *(t for t in n.NODE_TYPES.values()
                                      if t in EXPAND and not t.analog_only)})


class _NestNetwork:
    """What the data-set loop needs of a network, with NEST doing the simulation in the
    spawned ``worker`` (worker.py)."""

    def __init__(self, snn, worker):
        self.graph, self.ann_graph = snn.graph, snn.ann_graph
        self.readout_mode = snn.graph.readout.value
        self.worker = worker
        self.plans = plan(snn.graph)

    def run_batch(self, xb, timesteps: int, encoding=Encoding.ANALOG, window=None, seed=0,
                  input_rate=1.0, sample_index=None, probe=None, synaptic_delay=DELAY):
        from ...sim.windows import BatchOutput, readout_window
        from ..replay_sops import synaptic_ops

        x = xb.numpy() if isinstance(xb, torch.Tensor) else np.asarray(xb)
        if self.graph.quant is not None:
            from ...sim.integer import quantize_input

            x = quantize_input(x, self.graph).numpy()
        shaped = np.asarray(x, np.float64)
        x = shaped.reshape(len(x), -1)
        drives = {p.name: p.drive(x) for p in self.plans}
        out = self.worker.run(self.plans, drives, timesteps, record_v=probe is not None)
        emitted = {p.name: out[p.name].reshape(timesteps, len(x), *p.shape)
                   for p in self.plans}
        counts = {p.name: torch.from_numpy(emitted[p.name].sum(0, dtype=np.float32))
                  for p in self.plans if not p.membrane_readout}
        last = self.graph.output
        final = torch.from_numpy(out[last].astype(np.float32)
                                 if not self.graph[last].membrane_readout else out[last])
        if self.graph.quant is not None:
            final = final.round().to(torch.int64)
        readout, pred = readout_window(final, None, self.graph[last].membrane_readout)
        if probe is not None:
            feed_probe(probe, self.graph, self.plans, shaped, drives, out, timesteps)
        # synaptic events counted as the built-in simulator counts them, from NEST's spikes
        sops = synaptic_ops(self.graph, shaped.astype(np.float32), emitted, timesteps, DELAY)
        return BatchOutput(readout=readout if self.graph.quant is not None else readout.float(),
                           predictions=pred, counts=counts, sops=sops)


class NestBackend(Backend):
    """Runs the network in NEST through PyNN (``pyNN.nest``)."""

    #: the PyNN simulator module; ``pyNN.spiNNaker`` would target SpiNNaker (untested)
    module: str = "pyNN.nest"

    def require(self, load: bool = True) -> None:
        """Check that PyNN and NEST are installed, without importing them: only the
        worker process (worker.py) ever loads NEST, whatever ``load`` says."""
        super().require(load=False)

    def problems(self, graph, **options):
        if options.get("synaptic_delay") is None:  # not asked for: NEST's own
            options["synaptic_delay"] = DELAY
        return super().problems(graph, **options)

    def extra_problems(self, graph, **options) -> list[Problem]:
        out = [Problem(t, h) for t, h in refusals(graph)]
        if not graph[graph.output].population:
            out.append(Problem(f"the output '{graph.output}' is not a population",
                               "simulate it with the built-in simulator"))
        if graph.quant is not None:
            ceil = [x.name for x in graph if isinstance(x, n.AvgPool) and x.ceil_mode]
            if ceil:
                out.append(Problem(f"average pooling {', '.join(ceil)} uses ceil_mode in "
                                   "integer mode", "pool without ceil_mode"))
        high = [x.name for x in graph if x.population and x.v0 >= 1]
        if high:
            out.append(Problem(f"populations {', '.join(high)} start at v0 >= θ",
                               "convert with v0 < 1"))
        return out

    def _saturation(self, graph, timesteps: int) -> list[Problem]:
        """Integer mode saturates membranes at ±L; NEST does not. Refused where a
        membrane could reach L within ``timesteps`` (the bound: v0 + T·max|I|)."""
        lim = integer_limit(graph)
        if lim is None:
            return []
        bad = []
        q = graph.quant
        xmax = max(abs(q.input_min), abs(q.input_max))
        for p in plan(graph):
            worst = np.abs(p.bias).copy()
            if p.from_input is not None:
                np.add.at(worst, p.from_input.post, np.abs(p.from_input.weight) * xmax)
            for c in p.incoming.values():
                np.add.at(worst, c.post, np.abs(c.weight))
            if np.any(np.abs(p.v0) + timesteps * worst >= lim):
                bad.append(p.name)
        if not bad:
            return []
        return [Problem(f"populations {', '.join(bad)} could reach the integer "
                        f"saturation bound ±{lim} within {timesteps} steps, which NEST "
                        "does not apply", "simulate fewer timesteps or with the built-in "
                        "simulator")]

    def run(self, snn, data, **options):
        from ... import SNN
        from ...analysis.evaluate import evaluate
        from ...arrays import labelled_samples
        from ...errors import SimulationError

        if not hasattr(snn, "simulate"):
            snn = SNN(getattr(snn, "graph", snn))
        timesteps = int(options.get("timesteps", 64))
        batch = int(options.get("batch_size", 16))
        if timesteps < 1 or batch < 1:
            raise SimulationError("timesteps and batch_size must be >= 1")
        self.check(snn.graph, **{k: v for k, v in options.items()
                                 if k in self.SEMANTIC})
        found = self._saturation(snn.graph, timesteps)
        if found:
            from ..base import BackendMismatch

            raise BackendMismatch(self.name, found, [t.__name__ for t in _NODES])
        self.require(load=False)  # NEST is imported by the worker process only
        x, y = labelled_samples(data, options.get("labels"), options.get("num_samples"),
                                tuple(snn.graph.input_shape))
        worker = Worker(self.module, int(options.get("threads", 1)))
        runner = _NestNetwork(snn, worker)
        synapses = sum(len(c) for p in runner.plans for c in p.incoming.values())
        batch = max(1, min(batch, MAX_SYNAPSES // max(synapses, 1)))  # NEST's memory
        enc = coerce(Encoding, options.get("encoding", Encoding.ANALOG), "encoding")
        config = options.get("config") or {
            "backend": self.name, "timesteps": timesteps, "batch_size": batch,
            "synaptic_delay": DELAY, "encoding": enc.value}
        with worker:
            return evaluate(runner, x, y, timesteps=timesteps, batch_size=batch,
                            dev=torch.device("cpu"), encoding=enc, input_rate=1.0,
                            seed=int(options.get("seed", 0)), window=None,
                            evaluate_ann=bool(options.get("evaluate_ann", True)),
                            progress=bool(options.get("progress", False)),
                            probe=options.get("probe"), config=config,
                            diagnostics=bool(options.get("diagnostics", True)),
                            example_sample=None, synaptic_delay=SynapticDelay(DELAY))


BACKEND = NestBackend(
    name="nest",
    description="NEST through PyNN (iaf_psc_delta, 1-step synaptic delay, reset to zero), "
                "docs/backends.md",
    supports={a: Supports(nodes=_NODES, reset=frozenset({ResetMode.ZERO}),
                          synaptic_delay=frozenset({DELAY}))
              for a in (Arithmetic.FLOAT, Arithmetic.INTEGER)},
    requires=("pyNN", "nest"),
    extra="nest",
    traces=True,
)
