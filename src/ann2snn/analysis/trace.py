"""Record traces of the float simulator (format: :mod:`ann2snn.analysis.traceio`).

Two ways in, both documented in docs/traces.md:

* ``record_trace(snn, x, sample_indices, timesteps)`` simulates just those samples and
  returns a :class:`Trace` (with the normalized ANN's activations of the same samples);
* ``rec = TraceRecorder(samples=[0, 3]); snn.simulate(data, probe=rec); rec.trace(snn)``
  records while a whole run is simulated.

Recording uses the simulator's ``probe`` path, which runs the IF recurrence step by
step (exact, slower): meant for a few samples.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from ..arrays import to_numpy
from ..errors import SimulationError
from ..ir import Graph, facts, is_quantized
from ..ir import nodes as n
from ..ir.options import Encoding, SynapticDelay, coerce
from .traceio import ANN_KIND, KINDS, STEP_KINDS, LayerInfo, Trace, TraceError, load_trace

log = logging.getLogger(__name__)

__all__ = ["Trace", "TraceError", "TraceRecorder", "record_trace", "load_trace", "traceable",
           "ann_source", "KINDS"]


def traceable(graph: Graph) -> list[n.Node]:
    """The nodes a trace can hold, in simulation order: Input nodes and IF populations."""
    return facts.traced_nodes(graph)


def ann_source(ann: Graph | None, population: str) -> str | None:
    """The ANN node whose (normalized) activation population ``population`` represents:
    the ReLU of the same name, or ``X`` for the output population ``X.neurons``."""
    if ann is None:
        return None
    if population in ann.nodes:
        return population
    base = population.removesuffix(".neurons")
    return base if base != population and base in ann.nodes else None


class TraceRecorder:
    """A simulator probe (``probe=`` of ``SNN.simulate`` / ``run_batch``) that keeps the
    values of chosen ``samples`` (positions in the simulated data; None: all), ``layers``
    (None: every Input and IF node) and ``kinds`` (None: all four step kinds).

    ``neurons`` optionally maps a layer to flat neuron indices to keep (a subset; the
    layer's shape in the trace then is ``(len(indices),)``). Batches are told apart by the
    probe's first step restarting at 0.
    """

    def __init__(self, samples: Iterable[int] | None = None, layers: Iterable[str] | None = None,
                 kinds: Iterable[str] | None = None,
                 neurons: dict[str, np.ndarray] | None = None):
        self.samples = None if samples is None else sorted({int(s) for s in samples})
        self.layers = None if layers is None else list(layers)
        self.kinds = tuple(STEP_KINDS if kinds is None else kinds)
        bad = [k for k in self.kinds if k not in STEP_KINDS]
        if bad:
            raise TraceError(f"unknown trace kinds {bad}; kinds are {', '.join(STEP_KINDS)}")
        self.neurons = {k: np.asarray(v, dtype=np.int64) for k, v in (neurons or {}).items()}
        self._chunks: dict[tuple[str, str], list[tuple[int, int, _Steps]]] = {}
        self._ann: dict[str, list[tuple[int, np.ndarray]]] = {}
        self._seen: set[tuple[str, str]] = set()
        self._offset = 0
        self._batch_size = 0
        self._inputs: set[str] = set()

    def _local(self, batch: int) -> list[int]:
        """Positions within the current batch of the samples to keep."""
        lo = self._offset
        if self.samples is None:
            return list(range(batch))
        return [s - lo for s in self.samples if lo <= s < lo + batch]

    def __call__(self, name: str, kind: str, tensor: torch.Tensor, t0: int) -> None:
        if t0 == 0:
            if (name, kind) in self._seen:  # a new batch begins
                self._offset += self._batch_size
                self._seen.clear()
            self._seen.add((name, kind))
            self._batch_size = int(tensor.shape[1])
        if self.layers is not None and name not in self.layers:
            return
        if kind not in self.kinds and not (kind == "spikes" and name in self._inputs):
            return  # the input as presented is kept whenever the input layer is traced
        local = self._local(int(tensor.shape[1]))
        if not local:
            return
        k = tensor.shape[0]
        arr = tensor.detach()[:, local].reshape(k, len(local), -1)
        if name in self.neurons:
            arr = arr[:, :, torch.as_tensor(self.neurons[name], device=arr.device)]
        arr = arr.cpu().numpy()
        chunks = self._chunks.setdefault((name, kind), [])
        last = chunks[-1] if chunks else None
        if last is not None and last[0] == self._offset and last[1] + last[2].n == t0:
            last[2].append(arr)  # the window after the last one: into the same buffer
        else:
            chunks.append((self._offset, t0, _Steps(arr.copy())))

    def set_inputs(self, names: Iterable[str]) -> None:
        """Tell the recorder which nodes are inputs (their "spikes" are always kept)."""
        self._inputs = set(names)

    def add_ann(self, offset: int, acts: dict[str, np.ndarray]) -> None:
        """Hand over the ANN activations of the batch starting at sample ``offset``."""
        for layer, a in acts.items():
            if self.layers is not None and layer not in self.layers:
                continue
            b = a.shape[0]
            local = (list(range(b)) if self.samples is None
                     else [s - offset for s in self.samples if offset <= s < offset + b])
            if local:
                flat = np.asarray(a)[local].reshape(len(local), -1)
                if layer in self.neurons:
                    flat = flat[:, self.neurons[layer]]
                self._ann.setdefault(layer, []).append((offset, flat))

    def trace(self, graph: Graph, sample_ids: Sequence[int] | None = None,
              source: str = "", extra: dict | None = None) -> Trace:
        """Assemble the recorded chunks into a :class:`Trace` of ``graph``'s layers.

        ``sample_ids`` are the dataset indices of the recorded samples (default: their
        positions). Spikes of IF populations are stored as uint8 (counts per step),
        everything else as float32 (int32 when the simulator is the integer one); a
        membrane-readout population has no ``spikes``.
        """
        layers, arrays, steps = [], {}, None
        for node in traceable(graph):
            kinds = {k: c for (nm, k), c in self._chunks.items() if nm == node.name}
            if not kinds and node.name not in self._ann:
                continue
            shape = graph.shapes[node.name]
            if node.name in self.neurons:
                shape = (len(self.neurons[node.name]),)
            layers.append(LayerInfo(node.name, node.op, tuple(shape)))
            for kind, chunks in kinds.items():
                if isinstance(node, n.IF) and node.membrane_readout and kind == "spikes":
                    continue  # a membrane readout does not spike: its "spikes" are v
                arr = _assemble(chunks)
                steps = arr.shape[0] if steps is None else steps
                if isinstance(node, n.IF) and kind == "spikes" and node.multi_spike <= 255:
                    arr = arr.astype(np.uint8)
                elif arr.dtype.kind in "iu":  # integer mode: int32 membranes and currents
                    arr = arr.astype(np.int32)
                else:
                    arr = arr.astype(np.float32)
                arrays[f"{node.name}/{kind}"] = arr.reshape(arr.shape[:2] + tuple(shape))
            if node.name in self._ann:
                parts = sorted(self._ann[node.name], key=lambda p: p[0])
                arrays[f"{node.name}/{ANN_KIND}"] = np.concatenate(
                    [p[1] for p in parts]).astype(np.float32).reshape(-1, *shape)
        if not layers:
            raise TraceError("nothing was recorded: no traced layer ran with the chosen samples")
        count = next(a.shape[1] for k, a in arrays.items() if not k.endswith("/" + ANN_KIND))
        ids = list(range(count)) if sample_ids is None else [int(s) for s in sample_ids]
        if self.samples is not None and sample_ids is None:
            ids = self.samples[:count]
        tr = Trace(int(steps or 0), ids, layers, arrays, source, dict(extra or {}))
        tr.validate()
        return tr


class _Steps:
    """The recorded steps of one layer, kind and batch, the windows appended in order to
    one buffer that doubles when full. (A small array kept per window, alive between each
    window's large temporaries, fragmented the heap: tracing one sample at T = 30,000
    grew the process by 290 MiB, where a no-op probe grew it by nothing; measured on the
    digits CNN.)"""

    def __init__(self, first: np.ndarray):
        self.buf, self.n = first, first.shape[0]

    def append(self, arr: np.ndarray) -> None:
        need = self.n + arr.shape[0]
        if need > self.buf.shape[0]:
            grown = np.empty((max(need, 2 * self.buf.shape[0]),) + self.buf.shape[1:],
                             self.buf.dtype)
            grown[:self.n] = self.buf[:self.n]
            self.buf = grown
        self.buf[self.n:need] = arr
        self.n = need

    def array(self) -> np.ndarray:
        return self.buf[:self.n]


def _assemble(chunks: list[tuple[int, int, _Steps]]) -> np.ndarray:
    """(offset, t0, steps (K, s, N)) chunks -> (T, S, N): time within a batch, then
    batches."""
    by_batch: dict[int, list[tuple[int, np.ndarray]]] = {}
    for off, t0, steps in chunks:
        by_batch.setdefault(off, []).append((t0, steps.array()))
    parts = [np.concatenate([a for _, a in sorted(v, key=lambda p: p[0])], 0)
             for _, v in sorted(by_batch.items())]
    return np.concatenate(parts, 1)


def check_layers(graph: Graph, layers: Iterable[str] | None) -> list[str] | None:
    """Validate layer names against the traceable nodes (error lists the valid ones)."""
    if layers is None:
        return None
    names = [x.name for x in traceable(graph)]
    layers = list(layers)
    bad = [x for x in layers if x not in names]
    if bad:
        raise TraceError(f"no traceable layer named {', '.join(map(repr, bad))}; layers are: "
                         + ", ".join(names))
    return layers


def record_trace(snn, x, sample_indices: Sequence[int], timesteps: int,
                 layers: Iterable[str] | None = None,
                 encoding: Encoding | str = Encoding.ANALOG, *,
                 kinds: Iterable[str] | None = None, input_rate: float = 1.0, seed: int = 0,
                 batch_size: int = 64, device: str = "cpu",
                 synaptic_delay: SynapticDelay | int = SynapticDelay.NONE) -> Trace:
    """Simulate the samples ``x[sample_indices]`` for ``timesteps`` steps and trace them.

    ``x`` is the whole data set (array ``(N, ...)`` or a Dataset) so that the trace names
    dataset indices and Poisson input is the same as in ``snn.simulate`` over all of ``x``
    (its random numbers depend on the sample index, not on the batch). Adds ``{layer}/ann``,
    the normalized ANN activation, when the network carries its ANN. The meta's extra
    records ``encoding`` and ``synaptic_delay``.
    """
    from .. import __version__

    x, idx = traced_samples(x, sample_indices)
    if timesteps < 1:
        raise SimulationError(f"timesteps must be >= 1, got {timesteps}")
    encoding = coerce(Encoding, encoding, "encoding")
    delay = coerce(SynapticDelay, synaptic_delay, "synaptic_delay")
    layers = check_layers(snn.graph, layers)
    rec = TraceRecorder(layers=layers, kinds=kinds)
    rec.set_inputs(snn.graph.inputs)
    dev = torch.device(device)
    snn.to(dev)
    ann = getattr(snn, "ann_graph", None)
    sources = {p.name: ann_source(ann, p.name) for p in snn.graph.of_type(n.IF)}
    sources = {k: v for k, v in sources.items()
               if v is not None and (layers is None or k in layers)}
    model = None
    if sources:
        from ..sim.ops import AnnModel

        model = AnnModel(ann).to(dev)
    for i in range(0, len(idx), batch_size):
        part = idx[i:i + batch_size]
        xb = torch.from_numpy(x[part]).to(dev)
        snn.run_batch(xb, timesteps, encoding, seed=seed, input_rate=input_rate,
                      sample_index=torch.as_tensor(part), probe=rec, synaptic_delay=delay)
        if model is not None:
            with torch.no_grad():
                _, acts = model(xb, set(sources.values()))
            rec.add_ann(i, {p: acts[s].cpu().numpy() for p, s in sources.items()})
    kind = "integer" if is_quantized(snn.graph) else "float"
    src = f"ann2snn {__version__} {kind} simulator"
    return rec.trace(snn.graph, idx, src, {"encoding": encoding.value,
                                           "synaptic_delay": int(delay)})


def traced_samples(x, sample_indices) -> tuple:
    """The data as numpy and the sample indices to trace, checked (TraceError names the
    indices outside the data); shared by the built-in trace and backends/trace.py."""
    x = to_numpy(x)
    idx = [int(i) for i in sample_indices]
    if not idx:
        raise TraceError("no samples to trace")
    bad = [i for i in idx if not 0 <= i < len(x)]
    if bad:
        raise TraceError(f"sample indices {bad[:5]} are outside the data (0..{len(x) - 1})")
    return x, idx
