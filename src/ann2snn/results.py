"""The result of a simulation, and how it is written to a run folder."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class SimulationResult:
    """Accuracy over time and the counts behind it, for ``num_samples`` test samples."""

    timesteps: int
    num_samples: int
    labels: np.ndarray  #: (N,)
    snn_predictions: np.ndarray  #: (T, N) int16, -1 where no output spike yet
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

    @property
    def snn_accuracy_per_step(self) -> np.ndarray:
        return (self.snn_predictions == self.labels[None, :]).mean(1)

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

    def metrics(self) -> dict:
        """The metrics.json content (DESIGN §6)."""
        acc = [float(a) for a in self.snn_accuracy_per_step]
        return {
            "ann_accuracy": self.ann_accuracy,
            "snn_accuracy": acc[-1] if acc else None,
            "snn_accuracy_per_step": acc,
            "timesteps": self.timesteps,
            "num_samples": self.num_samples,
            "readout": self.readout,
            "spikes_per_neuron": self.spikes_per_neuron(),
            "synaptic_ops_per_sample": self.synaptic_ops_per_sample(),
            "synaptic_ops_per_layer_per_sample": {
                k: float(v.sum() / max(self.num_samples, 1))
                for k, v in self.sops_per_step.items()},
            "ann_macs_per_sample": int(sum(self.ann_macs.values())),
            "ann_macs_per_layer": self.ann_macs,
            "first_layer_macs_per_sample_per_step": self.first_layer_macs,
            "wall_time_s": self.wall_time_s,
            "config": self.config,
        }

    def table(self) -> list[tuple[int, float]]:
        """(t, SNN accuracy) at t = 1, 2, 4, ..., T (and T itself)."""
        steps, t = [], 1
        while t < self.timesteps:
            steps.append(t)
            t *= 2
        steps.append(self.timesteps)
        acc = self.snn_accuracy_per_step
        return [(t, float(acc[t - 1])) for t in steps]

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write metrics.json, predictions.npz and accuracy_vs_time.png into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "metrics.json", json.dumps(self.metrics(), indent=2).encode())
        buf_path = out / "predictions.npz"
        _atomic_npz(buf_path, labels=self.labels,
                    ann_prediction=(self.ann_predictions if self.ann_predictions is not None
                                    else np.full_like(self.labels, -1)),
                    snn_readout=self.snn_readout,
                    snn_prediction=self.snn_predictions[-1])
        from .report.plots import plot_accuracy

        plot_accuracy(self, out / "accuracy_vs_time.png")
        return out


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_npz(path: Path, **arrays) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
