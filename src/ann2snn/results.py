"""The result of a simulation: what was measured, and the metrics derived from it.

Writing it to a run folder is :mod:`ann2snn.report.run_folder`'s job."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .analysis.layers import LayerDiagnostics
    from .analysis.traceio import Trace

#: Most entries (T × N) of the table of every sample's prediction at every step that a
#: simulation keeps (``SimulationResult.snn_predictions``, 8 MiB as int16); larger runs
#: keep per step the number of correct predictions only, so memory stays O(T).
STEP_PREDICTIONS_MAX = 1 << 22


@dataclass
class SimulationResult:
    """Accuracy over time and the counts behind it, for ``num_samples`` test samples."""

    timesteps: int
    num_samples: int
    labels: np.ndarray  #: (N,)
    #: (T, N) int16, -1 where no output spike yet; None where T × N exceeds
    #: STEP_PREDICTIONS_MAX (then snn_correct_per_step and snn_final_predictions hold
    #: what the metrics need)
    snn_predictions: np.ndarray | None
    snn_readout: np.ndarray  #: (N, classes) output spike counts (or membrane) at T
    ann_predictions: np.ndarray | None  #: (N,) or None when the ANN was not evaluated
    spike_counts: dict[str, float]  #: total spikes per population over all samples and steps
    neurons: dict[str, int]  #: neurons per population
    sops_per_step: dict[str, np.ndarray]  #: per synaptic op, events x fan-out per step, summed
    ann_macs: dict[str, int]  #: per weighted layer, MACs per sample
    first_layer_macs: int  #: MACs per sample per step of layers fed by the analog input
    wall_time_s: dict[str, float]
    readout: str = "spike_count"
    config: dict = field(default_factory=dict)
    #: per population, diagnostics accumulated over the run (analysis.layers), sim. order
    layers: list[LayerDiagnostics] = field(default_factory=list)
    #: a subset trace of one sample (spikes and membranes of a few neurons per layer)
    example: Trace | None = None
    example_index: int | None = None
    #: the conversion's normalization settings and scales (graph.meta["normalization"])
    normalization: dict | None = None
    snn_correct_per_step: np.ndarray | None = None  #: (T,) samples predicted right
    snn_final_predictions: np.ndarray | None = None  #: (N,) the predictions at T

    def __post_init__(self):
        if self.snn_final_predictions is None:
            self.snn_final_predictions = self.snn_predictions[-1]
        if self.snn_correct_per_step is None:
            self.snn_correct_per_step = (self.snn_predictions
                                         == self.labels[None, :]).sum(1).astype(np.int64)

    @property
    def snn_accuracy_per_step(self) -> np.ndarray:
        return self.snn_correct_per_step / np.float64(len(self.labels))

    @property
    def snn_accuracy(self) -> float:
        return float(self.snn_accuracy_per_step[-1])

    @property
    def ann_accuracy(self) -> float | None:
        if self.ann_predictions is None:
            return None
        return float((self.ann_predictions == self.labels).mean())

    def spikes_per_neuron(self) -> dict[str, float]:
        """Mean spikes per neuron per sample, per population, and over all of them."""
        n = max(self.num_samples, 1)
        out = {k: self.spike_counts[k] / (self.neurons[k] * n) for k in self.spike_counts}
        tot_neurons = sum(self.neurons[k] for k in self.spike_counts)
        out["total"] = sum(self.spike_counts.values()) / max(tot_neurons * n, 1)
        return out

    def synaptic_ops_per_sample(self) -> float:
        return float(sum(v.sum() for v in self.sops_per_step.values()) / max(self.num_samples, 1))

    def sops_per_step_per_sample(self) -> dict[str, list[float]]:
        n = max(self.num_samples, 1)
        return {k: [float(x) / n for x in v] for k, v in self.sops_per_step.items()}

    def confusion_matrix(self) -> np.ndarray:
        """(classes, classes + 1) counts: row = label, column = final SNN prediction; the
        last column counts samples with no output spike at all."""
        k = int(self.snn_readout.shape[-1]) if self.snn_readout.ndim > 1 else 0
        k = max(k, int(self.labels.max(initial=-1)) + 1)
        pred = self.snn_final_predictions.astype(np.int64)
        pred = np.where(pred < 0, k, pred)
        ok = (self.labels >= 0) & (self.labels < k)
        cm = np.zeros((k, k + 1), np.int64)
        np.add.at(cm, (self.labels[ok], pred[ok]), 1)
        return cm

    def metrics(self) -> dict:
        """The metrics.json content (docs/design.md §6; every key is defined in
        docs/diagnostics.md)."""
        from .analysis.energy import energy_estimate

        acc = [float(a) for a in self.snn_accuracy_per_step]
        n = max(self.num_samples, 1)
        sops = self.synaptic_ops_per_sample()
        first_macs = int(self.first_layer_macs)
        out = {
            "ann_accuracy": self.ann_accuracy,
            "snn_accuracy": acc[-1] if acc else None,
            "snn_accuracy_per_step": acc,
            "timesteps": self.timesteps,
            "num_samples": self.num_samples,
            "readout": self.readout,
            "spikes_per_neuron": self.spikes_per_neuron(),
            "synaptic_ops_per_sample": sops,
            "synaptic_ops_per_layer_per_sample": {
                k: float(v.sum() / n) for k, v in self.sops_per_step.items()},
            "synaptic_ops_per_step_per_sample": self.sops_per_step_per_sample(),
            "ann_macs_per_sample": int(sum(self.ann_macs.values())),
            "ann_macs_per_layer": self.ann_macs,
            "first_layer_macs_per_sample": first_macs,
            "first_layer_macs_per_sample_per_step": first_macs,
            "energy": energy_estimate(sops, sum(self.ann_macs.values()), first_macs,
                                      self.timesteps),
            "layers": [d.summary for d in self.layers],
            "normalization": self.normalization,
            "wall_time_s": self.wall_time_s,
            "config": self.config,
        }
        cm = self.confusion_matrix()
        if cm.shape[0] <= 100:
            out["confusion_matrix"] = {"rows": "label", "columns": "prediction; last: none",
                                       "counts": cm.tolist()}
        return _finite(out)

    def table(self) -> list[tuple[int, float]]:
        """(t, SNN accuracy) at t = 1, 2, 4, ..., T (and T itself)."""
        steps, t = [], 1
        while t < self.timesteps:
            steps.append(t)
            t *= 2
        steps.append(self.timesteps)
        acc = self.snn_accuracy_per_step
        return [(t, float(acc[t - 1])) for t in steps]

    def save(self, out_dir: str | os.PathLike, report: bool = True) -> Path:
        """Write the run folder (see :func:`ann2snn.report.run_folder.save_run`)."""
        from .report.run_folder import save_run

        return save_run(self, out_dir, report)


def _finite(obj):
    """Replace NaN/Inf floats by None so that metrics.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
