"""The public Python API: convert(), load(), and the converted network."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .analysis.counts import macs_per_layer
from .errors import Ann2SnnError, ConversionError, SimulationError
from .ir import Graph, ResetMode, load_bundle, save_bundle
from .ir import nodes as n
from .ir.facts import static_nodes as static_layers
from .passes import (
    fold_batchnorm,
    max_to_avg,
    normalize,
    relu_before_maxpool,
    remove_identities,
    to_spiking,
)
from .results import SimulationResult
from .sim.encoders import Encoding
from .sim.ops import ann_forward
from .sim.simulator import Probe, SpikingNetwork

log = logging.getLogger(__name__)


def _as_array(data, what: str) -> np.ndarray:
    if hasattr(data, "x") and hasattr(data, "y"):
        data = data.x
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    arr = np.asarray(data, dtype=np.float32)
    if arr.ndim < 2 or len(arr) == 0:
        raise ConversionError(f"{what} must be an array of samples (N, ...), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConversionError(f"{what} contains NaN or Inf")
    return arr


def import_model(model, sample: np.ndarray | None = None) -> Graph:
    """Any supported model (nn.Module, ExportedProgram, Graph, or a file path) -> Graph."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, os.PathLike)):
        from .frontends import load_model

        return load_model(model)
    if isinstance(model, torch.export.ExportedProgram):
        from .frontends.torch import from_exported

        return from_exported(model)
    if type(model).__module__.startswith("keras"):
        from .frontends.keras import from_keras_model

        return from_keras_model(model, type(model).__name__)
    if isinstance(model, torch.nn.Module):
        from .frontends.torch import from_module

        if sample is None:
            raise ConversionError("a torch module needs sample data to be exported")
        return from_module(model, torch.as_tensor(sample[:2]))
    raise ConversionError(f"cannot convert a {type(model).__name__}; pass an nn.Module, an "
                          "ExportedProgram, or a model file (.pt2, .onnx, .keras, .h5)")


def prepare_ann(graph: Graph, max_to_avg_pool: bool = False) -> Graph:
    """The analog canonical form: identities removed, batch norm folded, pooling ordered."""
    graph = remove_identities(graph)
    graph = fold_batchnorm(graph)
    graph = relu_before_maxpool(graph)
    if max_to_avg_pool:
        graph = max_to_avg(graph)
    return graph


def convert(model, calibration_data, *, percentile: float = 99.9, method: str = "percentile",
            per_channel: bool = False, max_to_avg_pool: bool = False,
            reset: ResetMode | str = ResetMode.SUBTRACT, v0: float = 0.0,
            softmax_readout: str = "membrane", input_scale: float = 1.0,
            quantize=None) -> SNN:
    """Convert a trained ReLU network into a spiking network.

    ``calibration_data`` (N, ...) — training images, never the test set — sets the
    per-layer scales: the ``percentile`` of each layer's non-zero activations, or their
    ``max``, per layer or ``per_channel``. See DESIGN §3-4 for the semantics.
    """
    calib = _as_array(calibration_data, "calibration data")
    graph = import_model(model, calib)
    if tuple(calib.shape[1:]) != tuple(graph.input_shape):
        raise ConversionError(f"calibration data has shape {calib.shape[1:]} per sample; the "
                              f"model expects {graph.input_shape}")
    t0 = time.perf_counter()
    ann = prepare_ann(graph, max_to_avg_pool)
    norm, _ = normalize(ann, calib, method=method, percentile=percentile,
                        per_channel=per_channel, input_scale=input_scale)
    reset = ResetMode(reset) if isinstance(reset, str) else reset
    snn = to_spiking(norm, reset=reset, v0=v0, softmax_readout=softmax_readout)
    snn.meta["conversion_time_s"] = time.perf_counter() - t0
    if quantize is not None:  # a QuantSpec: integer mode (docs/integer-mode.md)
        from .quantize import quantize as _quantize

        return _quantize(SNN(snn, norm), quantize, calib)
    return SNN(snn, norm)


def load(path: str | os.PathLike) -> SNN:
    """Load a network saved with :meth:`SNN.save`."""
    graphs, extra = load_bundle(path)
    if "snn" not in graphs:
        raise Ann2SnnError(f"{path} holds no spiking network (keys: {sorted(graphs)})")
    return SNN(graphs["snn"], graphs.get("ann"))


class SNN(SpikingNetwork):
    """A converted spiking network, with the normalized ANN it came from.

    A torch module: ``snn(x, timesteps)`` returns the output readout. ``simulate`` runs
    a dataset and returns a :class:`~ann2snn.results.SimulationResult`.
    """

    def __init__(self, graph: Graph, ann_graph: Graph | None = None, timesteps: int = 64):
        super().__init__(graph, timesteps)
        self.ann_graph = ann_graph

    def run_batch(self, x, timesteps: int, *args, **kwargs):
        if "quant" in self.graph.meta:  # integer mode: the integer simulator
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
        return ann_forward(self.ann_graph, _as_array(x, "input"), batch_size, record, device)

    def simulate(self, data, labels=None, *, timesteps: int = 64, batch_size: int = 256,
                 device: str = "cpu", num_samples: int | None = None,
                 encoding: Encoding | str = Encoding.ANALOG, input_rate: float = 1.0,
                 seed: int = 0, window: int | None = None, evaluate_ann: bool = True,
                 progress: bool = False, probe: Probe | None = None,
                 config: dict | None = None, diagnostics: bool = True,
                 example_sample: int | None = 0) -> SimulationResult:
        """Simulate ``data`` (a Dataset, or an array with ``labels``) for ``timesteps``.

        ``diagnostics`` accumulates the per-population metrics of docs/diagnostics.md
        (ANN/SNN correlation, clipping, error decomposition; needs the ANN) and
        ``example_sample`` traces that sample for the raster and membrane plots (None:
        skip). ``probe`` is called for every traced value (see ``sim.simulator.Probe``);
        pass an :class:`ann2snn.analysis.trace.TraceRecorder` to record a trace of the
        run — it also receives the ANN activations of its samples.
        """
        x, y = _samples(data, labels, num_samples, tuple(self.graph.input_shape))
        if batch_size < 1:
            raise SimulationError(f"batch size must be >= 1, got {batch_size}")
        dev = _device(device)
        encoding = Encoding(encoding) if isinstance(encoding, str) else encoding
        self.to(dev)
        from tqdm.auto import tqdm

        from .analysis.layers import LayerAccumulator
        from .analysis.trace import ann_source
        from .sim.ops import AnnModel

        wall: dict[str, float] = {"ann": 0.0, "diagnostics": 0.0}
        pops = [p for p in self.graph.of_type(n.IF)]
        ann_model = (AnnModel(self.ann_graph).to(dev)
                     if evaluate_ann and self.ann_graph is not None else None)
        sources = {p.name: ann_source(self.ann_graph, p.name) for p in pops} \
            if ann_model is not None and (diagnostics or probe is not None) else {}
        sources = {k: v for k, v in sources.items() if v is not None}
        accs = {p.name: LayerAccumulator(p, self.graph.shapes[p.name], timesteps, len(x),
                                         seed=seed) for p in pops} if diagnostics else {}
        preds, readouts, ann_preds = [], [], []
        counts: dict[str, float] = {}
        sops: dict[str, np.ndarray] = {}
        example_acts = None
        bar = tqdm(total=len(x), disable=not progress, unit="sample", desc="simulating",
                   leave=False)
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[i:i + batch_size])
            acts: dict[str, np.ndarray] = {}
            if ann_model is not None:
                t0 = time.perf_counter()
                with torch.no_grad():
                    xd = xb.to(dev)
                    if sources:
                        out, rec = ann_model(xd, set(sources.values()))
                        acts = {p: rec[s].cpu().numpy() for p, s in sources.items()}
                    else:
                        out = ann_model(xd)
                ann_preds.append(out.reshape(len(xb), -1).argmax(1).cpu().numpy())
                wall["ann"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            bo = self.run_batch(xb, timesteps, encoding, window=window, seed=seed,
                                input_rate=input_rate,
                                sample_index=torch.arange(i, min(i + batch_size, len(x))),
                                probe=probe)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            wall["snn"] = wall.get("snn", 0.0) + time.perf_counter() - t0
            preds.append(bo.predictions.numpy().astype(np.int16))
            readouts.append(bo.readout.numpy())
            for k, v in bo.counts.items():
                counts[k] = counts.get(k, 0.0) + float(v.sum())
            for k, v in bo.sops.items():
                sops[k] = sops.get(k, 0) + v.double().numpy()
            t0 = time.perf_counter()
            for name, acc in accs.items():
                c = bo.counts.get(name)
                acc.update(None if c is None else c.numpy(), acts.get(name),
                           membrane=bo.readout.numpy() if name == self.graph.output else None)
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
            from .analysis.example import record_example

            t0 = time.perf_counter()
            example = record_example(self, x, example_sample, timesteps, encoding,
                                     input_rate, seed, example_acts)
            wall["diagnostics"] += time.perf_counter() - t0
        if ann_model is None:
            del wall["ann"]
        pop_sizes = {p.name: int(np.prod(self.graph.shapes[p.name])) for p in pops
                     if not p.membrane_readout}
        static = static_layers(self.graph) if encoding is Encoding.ANALOG else set()
        macs_all = macs_per_layer(self.graph)
        first = sum(v for k, v in macs_all.items() if k in static)
        return SimulationResult(
            timesteps=timesteps, num_samples=len(x), labels=y,
            snn_predictions=np.concatenate(preds, axis=1), snn_readout=np.concatenate(readouts),
            ann_predictions=np.concatenate(ann_preds) if ann_preds else None,
            spike_counts={k: counts.get(k, 0.0) for k in pop_sizes},
            neurons=pop_sizes, sops_per_step=sops,
            ann_macs=macs_per_layer(self.ann_graph) if self.ann_graph is not None else macs_all,
            first_layer_macs=first, wall_time_s=wall, readout=self.readout_mode,
            config=config or {"timesteps": timesteps, "batch_size": batch_size,
                              "device": str(dev), "encoding": encoding.value,
                              "input_rate": input_rate, "seed": seed},
            layers=[a.diagnostics() for a in accs.values()], example=example,
            example_index=example_sample if example is not None else None,
            normalization=(self.ann_graph or self.graph).meta.get("normalization"))

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


def _samples(data, labels, num_samples: int | None, input_shape: tuple
             ) -> tuple[np.ndarray, np.ndarray]:
    """(x float32, y int64) from a Dataset or an array and labels, checked: non-empty,
    as many labels as samples, finite (naming the first bad sample), the network's shape."""
    if hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    else:
        if labels is None:
            raise SimulationError("pass labels, or a Dataset that has them")
        x, y = data, labels
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
    y = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y).astype(np.int64)
    if num_samples is not None:
        x, y = x[:num_samples], y[:num_samples]
    if len(x) == 0:
        raise SimulationError("no samples to simulate")
    if len(x) != len(y):
        raise SimulationError(f"{len(x)} samples but {len(y)} labels")
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x.reshape(len(x), -1)).any(1))[0, 0])
        raise SimulationError(f"input sample {bad} contains NaN or Inf")
    if tuple(x.shape[1:]) != input_shape:
        raise SimulationError(f"data has shape {x.shape[1:]} per sample; the network "
                              f"expects {input_shape}")
    return x, y


def _device(device: str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SimulationError("--device cuda was asked for but CUDA is not available here; "
                              "use --device cpu")
    return dev
