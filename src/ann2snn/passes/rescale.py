"""Fold INIsim's threshold ``v_thresh`` and time step ``dt`` into a converted network.

INIsim (snntoolbox 0.6.0, ``temporal_mean_rate``) with threshold θ = ``v_thresh`` and
time step ``dt`` does, per step, for every population:

- the analog input enters as ``x·dt`` (``SNN.simulate``: ``input_b_l = x_b_l * dt``);
  Poisson input spikes are *not* scaled by dt (``get_poisson_frame_batch``);
- every bias is ``b·dt`` (``SNN.compile``: ``bias * self._dt``);
- a neuron spikes when ``v >= θ``, is reset by θ (subtraction) or to zero, and its spike
  has amplitude θ (``linear_activation`` returns ``[v >= θ]·θ``).

Dividing every membrane by θ gives the canonical form of docs/design.md §3 exactly (threshold 1,
unit spikes): the synapses that read the input are multiplied by ``dt/θ`` (analog) or
``1/θ`` (input spikes), every bias by ``dt/θ``, and synapses between populations stay as
they are (θ-spikes divided by θ). This is the same as multiplying every population's
normalization scale λ by ``θ/dt`` (with spike input, the input's scale by ``1/dt``).
The IF thresholds stay 1, so the integer mode and the C export need nothing new.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import ConversionError
from ..ir import Graph
from ..ir import nodes as n


def _times(a: np.ndarray, f: float) -> np.ndarray:
    return (np.asarray(a, np.float64) * f).astype(a.dtype)


def scale_currents(graph: Graph, bias_factor: float, input_factor: float) -> Graph:
    """Multiply every bias by ``bias_factor`` and what the input contributes by
    ``input_factor`` (folded into the weights that read it, or a Scale node after the
    input where it reaches anything else first)."""
    if bias_factor <= 0 or input_factor <= 0:
        raise ConversionError("current scale factors must be > 0")
    # tensors that carry the input times a factor, before any weighted layer
    derived = set(graph.inputs)
    fold: set[str] = set()  # weighted nodes (or Scale) reading such a tensor
    foldable = True
    for x in graph:
        hits = [i in derived for i in x.inputs]
        if not any(hits):
            continue
        if x.multiplicative:
            fold.add(x.name)
        elif x.homogeneous and all(hits):  # the factor passes through unchanged
            derived.add(x.name)
        else:  # an Add, an IF, a ReLU or a Concat with spikes reads the input itself
            foldable = False
    nodes: list[n.Node] = []
    rewire: dict[str, str] = {}
    for x in graph:
        changes: dict = {}
        if getattr(x, "bias", None) is not None:
            changes["bias"] = _times(x.bias, bias_factor)
        if isinstance(x, n.BatchNorm):
            changes["shift"] = _times(x.shift, bias_factor)
        if foldable and x.name in fold and input_factor != 1:
            key = "factor" if isinstance(x, n.Scale) else "weight"
            changes[key] = _times(getattr(x, key), input_factor)
        if rewire:
            changes["inputs"] = tuple(rewire.get(i, i) for i in x.inputs)
        nodes.append(dataclasses.replace(x, **changes) if changes else x)
        if isinstance(x, n.Input) and not foldable and input_factor != 1:
            scale = n.Scale(f"{x.name}.scale", (x.name,),
                            factor=np.full((1,) * len(graph.shapes[x.name]), input_factor,
                                           np.float32))
            nodes.append(scale)
            rewire[x.name] = scale.name
    return graph.replace(nodes)


def fold_threshold_and_dt(snn: Graph, ann: Graph | None, v_thresh: float = 1.0,
                          dt: float = 1.0, spike_input: bool = False
                          ) -> tuple[Graph, Graph | None]:
    """The converted network (and its normalized ANN) with INIsim's ``v_thresh`` and
    ``dt`` folded in, as the module doc derives. ``spike_input``: Poisson (or other
    spike) input, which INIsim does not scale by dt.

    The ANN's populations are all scaled by ``dt/θ`` (its ReLU clips too), so that its
    activations remain the rates the populations approximate (for the diagnostics); its
    predictions do not change.
    """
    if v_thresh <= 0 or dt <= 0:
        raise ConversionError(f"v_thresh ({v_thresh}) and dt ({dt}) must be > 0")
    if v_thresh == 1 and dt == 1:
        return snn, ann
    k = dt / v_thresh
    snn = scale_currents(snn, k, (1.0 if spike_input else dt) / v_thresh)
    _note(snn, v_thresh, dt)
    if ann is not None:
        ann = scale_currents(ann, k, k)
        ann = ann.replace([dataclasses.replace(x, max_value=x.max_value * k)
                           if isinstance(x, n.ReLU) and x.max_value is not None else x
                           for x in ann])
        _note(ann, v_thresh, dt)
    return snn, ann


def _note(graph: Graph, v_thresh: float, dt: float) -> None:
    """Record θ and dt, and the effective scales λ·θ/dt, in the graph's meta."""
    norm = dict(graph.meta.get("normalization") or {})
    k = v_thresh / dt
    norm["scales"] = {name: ([v * k for v in lam] if isinstance(lam, list) else lam * k)
                      for name, lam in (norm.get("scales") or {}).items()}
    norm["v_thresh"], norm["dt"] = v_thresh, dt
    graph.meta["normalization"] = norm
