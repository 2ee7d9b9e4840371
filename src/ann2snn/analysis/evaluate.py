"""A whole data set through a spiking network (and its ANN), with the run's diagnostics.

:func:`evaluate` is what ``SNN.simulate`` runs once it has checked its arguments: the
batch loop over the samples, the ANN evaluated alongside, the per-population
accumulators of docs/diagnostics.md, and the one-sample example trace.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..errors import SimulationError
from ..ir import nodes as n
from ..ir.facts import static_nodes
from ..ir.options import Encoding, SynapticDelay
from ..results import SimulationResult
from .counts import macs_per_layer


def device(name: str) -> torch.device:
    """``name`` as a torch device; a clear error when CUDA is asked for but missing."""
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SimulationError("--device cuda was asked for but CUDA is not available here; "
                              "use --device cpu")
    return dev


def evaluate(snn, x: np.ndarray, y: np.ndarray, *, timesteps: int, batch_size: int,
             dev: torch.device, encoding: Encoding, input_rate: float, seed: int,
             window: int | None, evaluate_ann: bool, progress: bool, probe,
             config: dict | None, diagnostics: bool,
             example_sample: int | None, store=None, **options) -> SimulationResult | None:
    """Simulate the checked samples ``x`` (labels ``y``) on ``snn`` (an SNN, already
    on ``dev``); the arguments are those of ``SNN.simulate``, ``options`` go on to
    ``snn.run_batch``.

    Every batch becomes a :class:`~ann2snn.analysis.batches.BatchPart`, merged into the
    totals in batch order. In a distributed job (ann2snn.scale.distributed) rank r
    computes batches r, r + W, ...; rank 0 gathers the parts, merges them in the same
    order and returns the result (the other ranks return None). ``store``
    (ann2snn.scale.store.BatchStore) keeps each finished batch, and batches it already
    holds are loaded instead of simulated (``--resume``).
    """
    from tqdm.auto import tqdm

    from ..scale import distributed
    from .batches import BatchPart, Totals

    ctx = distributed.context()
    if probe is not None and (ctx.world > 1 or store is not None):
        raise SimulationError("a trace probe needs a single process without a batch store")
    run = _BatchRunner(snn, x, y, timesteps=timesteps, batch_size=batch_size, dev=dev,
                       encoding=encoding, input_rate=input_rate, seed=seed, window=window,
                       evaluate_ann=evaluate_ann, probe=probe, diagnostics=diagnostics,
                       example_sample=example_sample, options=options)
    if store is not None:
        store.begin(_fingerprint(snn, x, y, dev, run.settings()))
    totals = Totals(run.accumulators())
    template = run.accumulators()
    starts = list(range(0, len(x), batch_size))[ctx.rank::ctx.world]
    mine = []
    bar = tqdm(total=sum(min(batch_size, len(x) - i) for i in starts),
               disable=not progress, unit="sample", desc="simulating", leave=False)
    for i in starts:
        part = store.load(i) if store is not None and store.has(i) else None
        if part is None:
            part = run.batch(i)
            if store is not None:
                store.save(part)
        if ctx.world == 1:
            totals.add(part, template)
        else:
            mine.append(part.arrays())
        bar.update(part.size)
    bar.close()
    if ctx.world > 1:
        gathered = distributed.gather(mine)
        if not ctx.is_root:
            return None
        for a in sorted((a for rank in gathered for a in rank), key=lambda a: int(a["start"])):
            totals.add(BatchPart.from_arrays(a), template)
    return run.result(totals, y, config)


class _BatchRunner:
    """Runs one batch (the ANN beside the SNN, the accumulators) and makes the result."""

    def __init__(self, snn, x, y, *, timesteps, batch_size, dev, encoding, input_rate, seed,
                 window, evaluate_ann, probe, diagnostics, example_sample, options):
        from ..results import STEP_PREDICTIONS_MAX
        from ..sim.ops import AnnModel
        from .trace import ann_source

        self.snn, self.x, self.y, self.dev, self.probe = snn, x, y, dev, probe
        # every prediction at every step only while that table is small; otherwise the
        # simulator counts the correct ones per step (memory O(T), whatever T and N)
        self.keep = timesteps * len(x) <= STEP_PREDICTIONS_MAX
        self.reduce = not self.keep and getattr(snn, "counts_correct", False)
        self.timesteps, self.batch_size, self.window = timesteps, batch_size, window
        self.encoding, self.input_rate, self.seed = encoding, input_rate, seed
        self.diagnostics, self.example_sample, self.options = (diagnostics, example_sample,
                                                               options)
        self.delay = options.get("synaptic_delay", SynapticDelay.NONE)
        graph, ann_graph = snn.graph, snn.ann_graph
        self.pops = list(graph.of_type(n.IF))
        self.ann_model = (AnnModel(ann_graph).to(dev)
                          if evaluate_ann and ann_graph is not None else None)
        sources = {p.name: ann_source(ann_graph, p.name) for p in self.pops} \
            if self.ann_model is not None and (diagnostics or probe is not None) else {}
        self.sources = {k: v for k, v in sources.items() if v is not None}

    def settings(self) -> dict:
        """Everything besides the network and the data that changes a number."""
        return {"timesteps": self.timesteps, "batch_size": self.batch_size,
                "encoding": self.encoding.value, "input_rate": self.input_rate,
                "seed": self.seed, "window": self.window,
                "evaluate_ann": self.ann_model is not None, "diagnostics": self.diagnostics,
                "example_sample": self.example_sample, "batch_format": 2,
                **{k: repr(v) for k, v in sorted(self.options.items())}}

    def accumulators(self) -> dict:
        from .layers import LayerAccumulator

        shapes = self.snn.graph.shapes
        return {p.name: LayerAccumulator(p, shapes[p.name], self.timesteps, len(self.x),
                                         seed=self.seed)
                for p in self.pops} if self.diagnostics else {}

    def batch(self, i: int):
        """Samples i .. i + batch_size as a BatchPart."""
        from .batches import BatchPart

        snn, x, dev, graph = self.snn, self.x, self.dev, self.snn.graph
        wall = {"ann": 0.0, "diagnostics": 0.0} if self.ann_model is not None else {
            "diagnostics": 0.0}
        # a copy with the standard strides: torch picks its convolution kernels (and
        # so the last bits of the ANN's activations) by the strides, and the strides of
        # size-1 axes differ between equal arrays (a reshaped view, an unpickled copy)
        xb = torch.from_numpy(x[i:i + self.batch_size]).clone(
            memory_format=torch.contiguous_format)
        acts: dict[str, np.ndarray] = {}
        ann_pred = None
        if self.ann_model is not None:
            t0 = time.perf_counter()
            ann_pred, acts = _ann_batch(self.ann_model, self.sources, xb, dev)
            wall["ann"] += time.perf_counter() - t0
        labels = torch.as_tensor(np.asarray(self.y[i:i + self.batch_size], np.int64))
        more = {"labels": labels} if self.reduce else {}
        t0 = time.perf_counter()
        bo = snn.run_batch(xb, self.timesteps, self.encoding, window=self.window,
                           seed=self.seed, input_rate=self.input_rate,
                           sample_index=torch.arange(i, min(i + self.batch_size, len(x))),
                           probe=self.probe, **self.options, **more)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        wall["snn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        accs = self.accumulators()
        for name, acc in accs.items():
            c = bo.counts.get(name)
            acc.update(None if c is None else c.numpy(), acts.get(name),
                       membrane=bo.readout.numpy() if name == graph.output else None, start=i)
        if self.probe is not None and hasattr(self.probe, "add_ann") and acts:
            self.probe.add_ann(i, acts)
        ex = self.example_sample
        example_acts = ({k: v[ex - i:ex - i + 1] for k, v in acts.items()}
                        if ex is not None and i <= ex < i + len(xb) and acts else None)
        wall["diagnostics"] += time.perf_counter() - t0
        return BatchPart.of(i, bo, labels, ann_pred, accs, example_acts, wall, self.keep)

    def result(self, totals, y, config) -> SimulationResult:
        graph, ann_graph, x = self.snn.graph, self.snn.ann_graph, self.x
        wall = totals.wall
        example = None
        ex = self.example_sample
        if self.diagnostics and ex is not None and 0 <= ex < len(x):
            from .example import record_example

            t0 = time.perf_counter()
            example = record_example(self.snn, x, ex, self.timesteps, self.encoding,
                                     self.input_rate, self.seed, totals.example_acts,
                                     synaptic_delay=self.delay)
            wall["diagnostics"] = wall.get("diagnostics", 0.0) + time.perf_counter() - t0
        dev = self.dev
        return SimulationResult(
            timesteps=self.timesteps, num_samples=len(x), labels=y, wall_time_s=wall,
            **totals.fields(graph), **_costs(graph, ann_graph, self.encoding),
            readout=self.snn.readout_mode,
            config=config or {"timesteps": self.timesteps, "batch_size": self.batch_size,
                              "device": str(dev), "encoding": self.encoding.value,
                              "input_rate": self.input_rate, "seed": self.seed,
                              "synaptic_delay": int(self.delay)},
            layers=[a.diagnostics() for a in totals.accs.values()], example=example,
            example_index=ex if example is not None else None,
            normalization=(ann_graph or graph).meta.get("normalization"))


def _fingerprint(snn, x, y, dev, settings: dict) -> dict:
    """What a batch store's batches belong to (ann2snn.scale.store)."""
    from ..scale.store import data_digest, graph_digest

    return {"network": graph_digest(snn.graph), "data": data_digest(x, y),
            "num_samples": len(x), "device": dev.type, **settings}


def _ann_batch(model, sources: dict[str, str], xb: torch.Tensor, dev: torch.device
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The ANN's predictions for one batch, and (``sources``: population -> ANN node)
    the activations that match each population."""
    acts: dict[str, np.ndarray] = {}
    with torch.no_grad():
        xd = xb.to(dev)
        if sources:
            out, rec = model(xd, set(sources.values()))
            acts = {p: rec[s].cpu().numpy() for p, s in sources.items()}
        else:
            out = model(xd)
    return out.reshape(len(xb), -1).argmax(1).cpu().numpy(), acts


def _costs(graph, ann_graph, encoding: Encoding) -> dict:
    """The MAC counts the energy estimate compares the synaptic operations with."""
    static = static_nodes(graph) if encoding is Encoding.ANALOG else set()
    macs_all = macs_per_layer(graph)
    first = sum(v for k, v in macs_all.items() if k in static)
    return dict(ann_macs=macs_per_layer(ann_graph) if ann_graph is not None else macs_all,
                first_layer_macs=first)
