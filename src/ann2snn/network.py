"""The converted spiking network: a torch module that carries its normalized ANN, and
its file (``.snn``: both graphs in one bundle, see ir/serialize.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import __version__
from .arrays import labelled_samples, samples
from .errors import Ann2SnnError, SimulationError
from .ir import Graph, is_quantized, load_bundle, save_bundle
from .ir import nodes as n
from .ir.options import Encoding, SynapticDelay, coerce
from .results import SimulationResult
from .sim.ops import ann_forward
from .sim.simulator import Probe, SpikingNetwork


class SNN(SpikingNetwork):
    """A converted spiking network, with the normalized ANN it came from.

    A torch module: ``snn(x, timesteps)`` returns the output readout. ``simulate`` runs
    a dataset and returns a :class:`~ann2snn.results.SimulationResult`.
    """

    def __init__(self, graph: Graph, ann_graph: Graph | None = None, timesteps: int = 64):
        super().__init__(graph, timesteps)
        self.ann_graph = ann_graph

    def run_batch(self, x, timesteps: int, *args, **kwargs):
        if is_quantized(self.graph):  # integer mode: the integer simulator
            from .sim.integer import run_integer

            return run_integer(self, x, timesteps, *args, **kwargs)
        return super().run_batch(x, timesteps, *args, **kwargs)

    def save(self, path: str | os.PathLike) -> Path:
        graphs = {"snn": self.graph}
        if self.ann_graph is not None:
            graphs["ann"] = self.ann_graph
        return save_bundle(path, graphs, {"ann2snn_version": __version__})

    def ann_forward(self, x, batch_size: int = 512, record=None, device: str = "cpu"):
        if self.ann_graph is None:
            raise SimulationError("this network was saved without its ANN")
        return ann_forward(self.ann_graph, samples(x, "input"), batch_size, record, device)

    def simulate(self, data, labels=None, *, timesteps: int = 64, batch_size: int = 256,
                 device: str = "cpu", num_samples: int | None = None,
                 encoding: Encoding | str = Encoding.ANALOG, input_rate: float = 1.0,
                 seed: int = 0, window: int | None = None, evaluate_ann: bool = True,
                 progress: bool = False, probe: Probe | None = None,
                 config: dict | None = None, diagnostics: bool = True,
                 example_sample: int | None = 0,
                 synaptic_delay: SynapticDelay | int = SynapticDelay.NONE) -> SimulationResult:
        """Simulate ``data`` (a Dataset, or an array with ``labels``) for ``timesteps``.

        ``synaptic_delay`` (0, or 1 as Brian2 and NEST impose): the steps a spike takes
        along a connection out of a population (docs/design.md §3).

        ``diagnostics`` accumulates the per-population metrics of docs/diagnostics.md
        (ANN/SNN correlation, clipping, error decomposition; needs the ANN) and
        ``example_sample`` traces that sample for the raster and membrane plots (None:
        skip). ``probe`` is called for every traced value (see ``sim.simulator.Probe``);
        pass an :class:`ann2snn.analysis.trace.TraceRecorder` to record a trace of the
        run — it also receives the ANN activations of its samples. The loop itself is
        :func:`ann2snn.analysis.evaluate.evaluate`.
        """
        from .analysis.evaluate import device as as_device
        from .analysis.evaluate import evaluate

        x, y = labelled_samples(data, labels, num_samples, tuple(self.graph.input_shape))
        if batch_size < 1:
            raise SimulationError(f"batch size must be >= 1, got {batch_size}")
        dev = as_device(device)
        encoding = coerce(Encoding, encoding, "encoding")
        delay = coerce(SynapticDelay, synaptic_delay, "synaptic_delay")
        self.to(dev)
        return evaluate(self, x, y, timesteps=timesteps, batch_size=batch_size, dev=dev,
                        encoding=encoding, input_rate=input_rate, seed=seed, window=window,
                        evaluate_ann=evaluate_ann, progress=progress, probe=probe,
                        config=config, diagnostics=diagnostics,
                        example_sample=example_sample, synaptic_delay=delay)

    def summary(self) -> list[dict]:
        """Per-layer rows: name, type, output shape, parameters, neurons, threshold scale."""
        scales = (self.graph.meta.get("normalization") or {}).get("scales", {})
        rows = []
        for row in self.graph.summary():
            node = self.graph[row["name"]]
            is_pop = isinstance(node, n.IF)
            row["neurons"] = int(np.prod(row["shape"])) if is_pop else 0
            src = row["name"] if row["name"] in scales else row["name"].removesuffix(".neurons")
            lam = scales.get(src) if is_pop else None
            row["scale"] = (lam if lam is None or isinstance(lam, float)
                            else f"{min(lam):.3g}..{max(lam):.3g}")
            rows.append(row)
        return rows


def load(path: str | os.PathLike) -> SNN:
    """Load a network saved with :meth:`SNN.save`."""
    graphs, extra = load_bundle(path)
    if "snn" not in graphs:
        raise Ann2SnnError(f"{path} holds no spiking network (keys: {sorted(graphs)})")
    return SNN(graphs["snn"], graphs.get("ann"))
