"""One batch's share of a run, and the totals made by merging the batches in order.

The data-set loop (analysis/evaluate.py) turns every batch into a :class:`BatchPart`:
its predictions and readouts, its spike and synaptic-operation sums and the state of
one fresh per-population accumulator (analysis/layers.py). :class:`Totals` adds the
parts in batch order. Because a sum over the parts in that order is the very sum a
single loop makes, a run whose batches were computed by several processes
(ann2snn.scale.distributed) or in several sessions (ann2snn.scale.store) gives the same
numbers, bit for bit, as one uninterrupted run.

Nothing here grows with T × samples: a part keeps, per step, the number of its samples
predicted right (``correct``, (T,)) and each sample's last prediction; the (T, b) table of
every prediction at every step is kept only when the caller asks (``keep``: small runs,
results.STEP_PREDICTIONS_MAX), so a run's memory does not grow with T beyond O(T).

A part is plain arrays (:meth:`BatchPart.arrays`), so it can be stored in an ``.npz``
read with ``allow_pickle=False``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import nodes as n
from .layers import LayerAccumulator


@dataclass
class BatchPart:
    """What one batch (samples ``start .. start + size``) contributes to a run."""

    start: int
    correct: np.ndarray  #: (T,) int64: samples of the batch predicted right at each step
    final: np.ndarray  #: (b,) int16: the prediction at the last step
    preds: np.ndarray | None  #: (T, b) int16, only when kept (small runs)
    readout: np.ndarray  #: (b, classes)
    ann_preds: np.ndarray | None  #: (b,)
    counts: dict[str, float]  #: spikes per population, summed over the batch (float64)
    sops: dict[str, np.ndarray]  #: per synaptic op, (T,) float64
    layers: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  #: acc. states
    example_acts: dict[str, np.ndarray] | None = None  #: ANN activations of the example
    wall: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.final.shape[0])

    @classmethod
    def of(cls, start: int, bo, labels, ann_preds, accs: dict[str, LayerAccumulator],
           example_acts, wall, keep: bool = True) -> BatchPart:
        """The part of the simulator's batch output ``bo`` for the samples' ``labels``
        (a (b,) tensor); ``keep``: keep every step's predictions too."""
        preds = bo.predictions
        return cls(start=start, correct=bo.correct_per_step(labels).numpy().astype(np.int64),
                   final=bo.final_predictions().numpy().astype(np.int16),
                   preds=preds.numpy().astype(np.int16) if keep and preds is not None
                   else None,
                   readout=bo.readout.numpy(), ann_preds=ann_preds,
                   counts={k: float(v.double().sum()) for k, v in bo.counts.items()},
                   sops={k: v.double().numpy() for k, v in bo.sops.items()},
                   layers={k: a.state() for k, a in accs.items()},
                   example_acts=example_acts, wall=dict(wall))

    # -- plain arrays (the batch store's file content) ---------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        a = {"start": np.array(self.start, np.int64), "correct": self.correct,
             "final": self.final, "readout": self.readout,
             "names.counts": np.array(list(self.counts), dtype=str),
             "counts": np.array(list(self.counts.values()), np.float64),
             "names.sops": np.array(list(self.sops), dtype=str),
             "names.layers": np.array(list(self.layers), dtype=str),
             "names.wall": np.array(list(self.wall), dtype=str),
             "wall": np.array(list(self.wall.values()), np.float64)}
        if self.ann_preds is not None:
            a["ann_preds"] = self.ann_preds
        if self.preds is not None:
            a["preds"] = self.preds
        for i, v in enumerate(self.sops.values()):
            a[f"sops.{i}"] = v
        for i, st in enumerate(self.layers.values()):
            for k, v in st.items():
                a[f"layer.{i}.{k}"] = v
        if self.example_acts is not None:
            a["names.example"] = np.array(list(self.example_acts), dtype=str)
            for i, v in enumerate(self.example_acts.values()):
                a[f"example.{i}"] = v
        return a

    @classmethod
    def from_arrays(cls, a) -> BatchPart:
        names = {k: [str(s) for s in a[f"names.{k}"]]
                 for k in ("counts", "sops", "layers", "wall", "example") if f"names.{k}" in a}
        layers = {}
        for i, name in enumerate(names["layers"]):
            pre = f"layer.{i}."
            layers[name] = {k[len(pre):]: np.asarray(a[k]) for k in a if k.startswith(pre)}
        example = ({k: np.asarray(a[f"example.{i}"]) for i, k in enumerate(names["example"])}
                   if "example" in names else None)
        return cls(start=int(a["start"]), correct=np.asarray(a["correct"]),
                   final=np.asarray(a["final"]),
                   preds=np.asarray(a["preds"]) if "preds" in a else None,
                   readout=np.asarray(a["readout"]),
                   ann_preds=np.asarray(a["ann_preds"]) if "ann_preds" in a else None,
                   counts={k: float(v) for k, v in zip(names["counts"], a["counts"])},
                   sops={k: np.asarray(a[f"sops.{i}"]) for i, k in enumerate(names["sops"])},
                   layers=layers, example_acts=example,
                   wall={k: float(v) for k, v in zip(names["wall"], a["wall"])})


class Totals:
    """The run's sums: :meth:`add` the parts in batch order, then :meth:`fields`."""

    def __init__(self, accs: dict[str, LayerAccumulator]):
        self.accs = accs  #: empty accumulators for the whole run, one per population
        self.correct: np.ndarray | None = None
        self.finals: list = []
        self.preds: list | None = []  #: None once a part came without them
        self.readouts: list = []
        self.ann_preds: list = []
        self.counts: dict[str, float] = {}
        self.sops: dict[str, np.ndarray] = {}
        self.example_acts = None
        self.wall: dict[str, float] = {}
        self.next_start = 0

    def add(self, part: BatchPart, template: dict[str, LayerAccumulator]) -> None:
        """Add ``part``, the batch after the last one added (``template``: accumulators
        shaped like ``self.accs``, reloaded with the part's states)."""
        if part.start != self.next_start:
            raise RuntimeError(f"batch at sample {part.start} added out of order "
                               f"(expected {self.next_start})")
        self.next_start += part.size
        self.correct = part.correct if self.correct is None else self.correct + part.correct
        self.finals.append(part.final)
        if part.preds is None or self.preds is None:
            self.preds = None
        else:
            self.preds.append(part.preds)
        self.readouts.append(part.readout)
        if part.ann_preds is not None:
            self.ann_preds.append(part.ann_preds)
        for k, v in part.counts.items():
            self.counts[k] = self.counts.get(k, 0.0) + v
        for k, v in part.sops.items():
            self.sops[k] = self.sops.get(k, 0) + v
        for k, st in part.layers.items():
            self.accs[k].merge(template[k].load_state(st))
        if part.example_acts is not None:
            self.example_acts = part.example_acts
        for k, v in part.wall.items():
            self.wall[k] = self.wall.get(k, 0.0) + v

    def fields(self, graph) -> dict:
        """The SimulationResult fields made of the collected outputs."""
        pop_sizes = {p.name: int(np.prod(graph.shapes[p.name])) for p in graph.of_type(n.IF)
                     if not p.membrane_readout}
        return dict(snn_predictions=np.concatenate(self.preds, axis=1) if self.preds
                    else None,
                    snn_correct_per_step=self.correct,
                    snn_final_predictions=np.concatenate(self.finals),
                    snn_readout=np.concatenate(self.readouts),
                    ann_predictions=np.concatenate(self.ann_preds) if self.ann_preds else None,
                    spike_counts={k: self.counts.get(k, 0.0) for k in pop_sizes},
                    neurons=pop_sizes, sops_per_step=self.sops)
