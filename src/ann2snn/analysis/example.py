"""The one-sample trace behind the run folder's raster and membrane plots."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..ir import nodes as n
from ..sim.encoders import Encoding
from .trace import TraceRecorder
from .traceio import Trace

#: neurons × steps kept per population: 96 neurons up to T = 1024, fewer beyond, so the
#: example trace stays a few MiB at any T (docs/scale-out.md, "Memory")
NEURON_STEPS = 96 * 1024
#: steps per window of the traced run. A window is sized by the batch, so one sample
#: alone got thousands of steps per window, and the traced path's per-step tensors of
#: whole populations with them: the example cost 120 MiB at T = 30,000 (digits CNN);
#: windows do not change the spikes (docs/design.md §5)
WINDOW = 256


def record_example(snn, x: np.ndarray, index: int, timesteps: int, encoding: Encoding,
                   input_rate: float = 1.0, seed: int = 0,
                   ann_acts: dict[str, np.ndarray] | None = None,
                   max_neurons: int = 96, synaptic_delay: int = 0) -> Trace:
    """Trace sample ``x[index]`` through every spiking population, keeping at most
    ``max_neurons`` neurons per population (a seeded random subset, in index order) so
    that the cost stays small for any network. ``ann_acts`` (population -> (1, *shape))
    adds the ANN activations of the kept neurons. Beyond T = 1024 fewer neurons are kept
    (:data:`NEURON_STEPS`), at least one."""
    max_neurons = min(max_neurons, max(1, NEURON_STEPS // timesteps))
    rng = np.random.default_rng(seed)
    pops = [p for p in snn.graph.of_type(n.IF)]
    keep = {}
    for p in pops:
        size = math.prod(snn.graph.shapes[p.name])
        keep[p.name] = (np.arange(size) if size <= max_neurons
                        else np.sort(rng.choice(size, max_neurons, replace=False)))
    rec = TraceRecorder(layers=[p.name for p in pops], neurons=keep)
    dev = snn.params_device()
    xb = torch.from_numpy(x[index:index + 1]).clone(memory_format=torch.contiguous_format)
    snn.run_batch(xb.to(dev), timesteps, encoding,  # standard strides: see evaluate.py
                  window=min(timesteps, WINDOW), seed=seed, input_rate=input_rate,
                  sample_index=torch.tensor([index]), probe=rec,
                  synaptic_delay=synaptic_delay)
    if ann_acts:
        rec.add_ann(0, ann_acts)
    return rec.trace(snn.graph, [index], "ann2snn float simulator (neuron subset)",
                     {"neuron_index": {k: v.tolist() for k, v in keep.items()},
                      "synaptic_delay": int(synaptic_delay)})
