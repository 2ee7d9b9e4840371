"""A whole data set through a spiking network (and its ANN), with the run's diagnostics.

:func:`evaluate` is what ``SNN.simulate`` runs once it has checked its arguments: the
batch loop over the samples, the ANN evaluated alongside, the per-population
accumulators of docs/diagnostics.md, and the one-sample example trace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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
             example_sample: int | None,
             synaptic_delay: SynapticDelay = SynapticDelay.NONE) -> SimulationResult:
    """Simulate the checked samples ``x`` (labels ``y``) on ``snn`` (an SNN, already
    on ``dev``); the arguments are those of ``SNN.simulate``."""
    from tqdm.auto import tqdm

    from ..sim.ops import AnnModel
    from .layers import LayerAccumulator
    from .trace import ann_source

    graph, ann_graph = snn.graph, snn.ann_graph
    wall: dict[str, float] = {"ann": 0.0, "diagnostics": 0.0}
    pops = [p for p in graph.of_type(n.IF)]
    ann_model = (AnnModel(ann_graph).to(dev)
                 if evaluate_ann and ann_graph is not None else None)
    sources = {p.name: ann_source(ann_graph, p.name) for p in pops} \
        if ann_model is not None and (diagnostics or probe is not None) else {}
    sources = {k: v for k, v in sources.items() if v is not None}
    accs = {p.name: LayerAccumulator(p, graph.shapes[p.name], timesteps, len(x),
                                     seed=seed) for p in pops} if diagnostics else {}
    outs = _Outputs()
    example_acts = None
    bar = tqdm(total=len(x), disable=not progress, unit="sample", desc="simulating",
               leave=False)
    for i in range(0, len(x), batch_size):
        xb = torch.from_numpy(x[i:i + batch_size])
        acts: dict[str, np.ndarray] = {}
        if ann_model is not None:
            t0 = time.perf_counter()
            pred, acts = _ann_batch(ann_model, sources, xb, dev)
            outs.ann_preds.append(pred)
            wall["ann"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        bo = snn.run_batch(xb, timesteps, encoding, window=window, seed=seed,
                           input_rate=input_rate,
                           sample_index=torch.arange(i, min(i + batch_size, len(x))),
                           probe=probe, synaptic_delay=synaptic_delay)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        wall["snn"] = wall.get("snn", 0.0) + time.perf_counter() - t0
        outs.add(bo)
        t0 = time.perf_counter()
        for name, acc in accs.items():
            c = bo.counts.get(name)
            acc.update(None if c is None else c.numpy(), acts.get(name),
                       membrane=bo.readout.numpy() if name == graph.output else None)
        if probe is not None and hasattr(probe, "add_ann") and acts:
            probe.add_ann(i, acts)
        if example_sample is not None and i <= example_sample < i + len(xb) and acts:
            j = example_sample - i
            example_acts = {k: v[j:j + 1] for k, v in acts.items()}
        wall["diagnostics"] += time.perf_counter() - t0
        bar.update(len(bo.readout))
    bar.close()
    example = None
    if diagnostics and example_sample is not None and 0 <= example_sample < len(x):
        from .example import record_example

        t0 = time.perf_counter()
        example = record_example(snn, x, example_sample, timesteps, encoding,
                                 input_rate, seed, example_acts,
                                 synaptic_delay=synaptic_delay)
        wall["diagnostics"] += time.perf_counter() - t0
    if ann_model is None:
        del wall["ann"]
    return SimulationResult(
        timesteps=timesteps, num_samples=len(x), labels=y, wall_time_s=wall,
        **outs.fields(graph), **_costs(graph, ann_graph, encoding),
        readout=snn.readout_mode,
        config=config or {"timesteps": timesteps, "batch_size": batch_size,
                          "device": str(dev), "encoding": encoding.value,
                          "input_rate": input_rate, "seed": seed,
                          "synaptic_delay": int(synaptic_delay)},
        layers=[a.diagnostics() for a in accs.values()], example=example,
        example_index=example_sample if example is not None else None,
        normalization=(ann_graph or graph).meta.get("normalization"))


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


@dataclass
class _Outputs:
    """What the batch loop collects from the simulator's batch outputs."""

    preds: list = field(default_factory=list)
    readouts: list = field(default_factory=list)
    ann_preds: list = field(default_factory=list)
    counts: dict[str, float] = field(default_factory=dict)
    sops: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, bo) -> None:
        self.preds.append(bo.predictions.numpy().astype(np.int16))
        self.readouts.append(bo.readout.numpy())
        for k, v in bo.counts.items():
            self.counts[k] = self.counts.get(k, 0.0) + float(v.sum())
        for k, v in bo.sops.items():
            self.sops[k] = self.sops.get(k, 0) + v.double().numpy()

    def fields(self, graph) -> dict:
        """The SimulationResult fields made of the collected outputs."""
        pop_sizes = {p.name: int(np.prod(graph.shapes[p.name])) for p in graph.of_type(n.IF)
                     if not p.membrane_readout}
        return dict(snn_predictions=np.concatenate(self.preds, axis=1),
                    snn_readout=np.concatenate(self.readouts),
                    ann_predictions=np.concatenate(self.ann_preds) if self.ann_preds else None,
                    spike_counts={k: self.counts.get(k, 0.0) for k in pop_sizes},
                    neurons=pop_sizes, sops_per_step=self.sops)


def _costs(graph, ann_graph, encoding: Encoding) -> dict:
    """The MAC counts the energy estimate compares the synaptic operations with."""
    static = static_nodes(graph) if encoding is Encoding.ANALOG else set()
    macs_all = macs_per_layer(graph)
    first = sum(v for k, v in macs_all.items() if k in static)
    return dict(ann_macs=macs_per_layer(ann_graph) if ann_graph is not None else macs_all,
                first_layer_macs=first)
