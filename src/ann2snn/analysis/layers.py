"""Per-population diagnostics accumulated during ``SNN.simulate`` (docs/diagnostics.md).

For every neuron i of population l and sample k, with a = the normalized ANN activation
(the ReLU output divided by the layer's scale λ_l; an activation of 1 is a current of θ,
the threshold: 1 in float mode, an integer in integer mode), N = the spike count after T
steps and s_max = 1 (or the multi-spike limit):

    r        = N / T                          SNN firing rate (spikes per step)
    z        = clip(a, 0, s_max)              what an IF neuron can represent
    r*       = N*(z, T) / T                   rate of the same neuron driven by the constant
                                              current z·θ: floor(z·T + v0) for reset SUBTRACT
    e        = r − a = (z − a) + (r* − z) + (r − r*)
             = e_clip + e_quant + e_rem       clipping, quantization (|e_quant| ≤ 1/T),
                                              remainder (everything else: input spikes are
                                              not a constant current, errors from below)

Reported over all (sample, neuron) pairs: the Pearson correlation of a and r (and of
z and r, which leaves out what clipping explains), the fraction clipped [a > s_max],
and per error term its mean, mean |·| and RMS. Only sums
are kept (Σa, Σr, Σa², Σr², Σar, ...), plus a seeded, capped sample of (a, r) points for
the scatter plot and fixed-bin histograms, so memory does not grow with the data set.

Accumulators merge (:meth:`LayerAccumulator.merge`): one accumulator per batch, merged
in batch order, gives the very numbers (bit for bit) of one accumulator updated batch by
batch, because every sum is added in the same order. That is what makes distributed and
resumed runs (ann2snn.scale) equal a single uninterrupted run; ``state``/``from_state``
turn an accumulator into plain arrays for the batch store and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..ir import ResetMode
from ..ir import nodes as n
from ..sim import kernels
from ..sim.functional import IFParams, if_init, if_scan

COMPONENTS = ("total", "clipping", "quantization", "remainder")
ACT_BINS = np.linspace(0.0, 2.0, 101)  #: normalized-activation histogram bins (λ at 1.0)
_EDGES = np.ascontiguousarray(ACT_BINS, np.float64)  # the kernel's copy (read only)


#: Values per chunk of :meth:`LayerAccumulator.update` (a few float64 arrays of this
#: size stay in a core's cache).
_CHUNK = 1 << 14


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Σ a·b without BLAS (a multi-threaded BLAS dot is 1000x slower on a busy machine)."""
    return float(np.einsum("i,i->", a, b))


def ideal_counts(z: np.ndarray, timesteps: int, p: IFParams) -> np.ndarray:
    """Spike count N*(z, T) of an IF neuron driven by the constant current ``z`` (float64).

    ``z`` is in units of the threshold (an activation of 1 fires every step), so the
    neuron's current is z·θ. Closed form for reset by subtraction without leak:
    N* = floor(z·T + v0) (capped at s_max·T); otherwise the IF recurrence of
    :mod:`ann2snn.sim.functional` is run.
    """
    z = np.asarray(z, dtype=np.float64)
    if p.reset is ResetMode.SUBTRACT and not p.leak:
        return np.clip(np.floor(z * timesteps + p.v0), 0,
                       max(p.multi_spike, 1) * timesteps)
    flat = z.ravel()
    out = np.empty_like(flat)
    chunk = max(1, (1 << 22) // timesteps)  # bounds the (T, chunk) spike buffer
    for i in range(0, flat.size, chunk):
        cur = torch.as_tensor(flat[i:i + chunk] * p.threshold, dtype=torch.float32)
        s, _ = if_scan(cur, if_init(cur.shape, p), p, timesteps, static=True)
        out[i:i + chunk] = s.sum(0).double().numpy()
    return out.reshape(z.shape)


@dataclass
class LayerDiagnostics:
    """What the plots need of one population (small arrays only)."""

    name: str
    shape: tuple[int, ...]
    timesteps: int
    membrane_readout: bool
    count_hist: np.ndarray  #: samples×neurons with N = 0, 1, 2, ... spikes
    act_hist: np.ndarray | None  #: positive normalized activations per ACT_BINS bin
    act_over: int  #: positive activations ≥ ACT_BINS[-1]
    scatter: np.ndarray | None  #: (P, 2) sampled (a, r) pairs
    summary: dict = field(default_factory=dict)


class LayerAccumulator:
    """Running sums for one population; ``update`` per batch, ``summary`` at the end."""

    def __init__(self, node: n.IF, shape: tuple[int, ...], timesteps: int, num_samples: int,
                 scatter_cap: int = 2000, seed: int = 0):
        self.name = node.name
        self.shape = tuple(shape)
        self.neurons = math.prod(shape)
        self.timesteps = timesteps
        self.params = IFParams.of(node)
        self.membrane = node.membrane_readout
        self.upper = float(max(node.multi_spike, 1))
        self.num_samples = max(num_samples, 1)
        self.scatter_cap = scatter_cap
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.samples = 0
        self.spikes = 0.0
        self.count_hist = np.zeros(timesteps + 1, np.int64)
        self.pairs = 0
        self.sums = np.zeros(5)  # Σa, Σr, Σa², Σr², Σar
        self.zsums = np.zeros(3)  # Σz, Σz², Σzr (z = clip(a, 0, s_max))
        self.clipped = 0
        self.err = {c: np.zeros(3) for c in COMPONENTS}  # Σe, Σ|e|, Σe²
        self.act_hist = np.zeros(len(ACT_BINS) - 1, np.int64)
        self.act_over = 0
        self.points: list[np.ndarray] = []

    def update(self, counts: np.ndarray | None, ann: np.ndarray | None = None,
               membrane: np.ndarray | None = None, start: int | None = None) -> None:
        """Add one batch: spike counts (B, *shape) — or, for a membrane readout, the final
        membrane (B, *shape) — and the ANN activations (B, *shape) when known. ``start``
        (the batch's first sample index) keys the scatter sample to the batch, so that
        it does not depend on which batches one accumulator saw before."""
        t = self.timesteps
        if self.membrane:
            if membrane is None:
                return
            b = membrane.shape[0]
            r = np.asarray(membrane, np.float64).reshape(b, -1) / (t * self.params.threshold)
        else:
            b = counts.shape[0]
            c = np.asarray(counts, np.float64).reshape(b, -1)
            self.spikes += float(c.sum())
            hist = np.bincount(np.clip(np.rint(c), 0, None).astype(np.int64).ravel())
            if len(hist) > len(self.count_hist):
                self.count_hist = np.pad(self.count_hist, (0, len(hist) - len(self.count_hist)))
            self.count_hist[:len(hist)] += hist
            r = c / t
        self.samples += b
        if ann is None:
            return
        a = np.asarray(ann, np.float64).reshape(b, -1)
        self.pairs += a.size
        af, rf = a.ravel(), r.ravel()
        k = min(af.size, math.ceil(self.scatter_cap * b / self.num_samples))
        if k:
            rng = self.rng if start is None else np.random.default_rng([self.seed, start])
            pick = rng.integers(0, af.size, k)
            self.points.append(np.stack([af[pick], rf[pick]], 1).astype(np.float32))
        lib = kernels.library()
        if lib is not None:  # every sum and the histogram in one pass (sim/kernels/fused.c)
            self._update_native(lib, af, rf, t)
            return
        pos = af[af > 0]
        # equal bins by count and range: numpy's linear binning (exact at the edges),
        # where an edges array sorts the values first (3x the cost of the rest)
        self.act_hist += np.histogram(pos, len(ACT_BINS) - 1,
                                      (ACT_BINS[0], ACT_BINS[-1]))[0]
        self.act_over += int((pos >= ACT_BINS[-1]).sum())
        # a chunk at a time: the twenty-odd passes below then read the cache, not memory
        for lo in range(0, af.size, _CHUNK):
            self._update_chunk(af[lo:lo + _CHUNK], rf[lo:lo + _CHUNK], t)

    def _update_native(self, lib, af: np.ndarray, rf: np.ndarray, t: int) -> None:
        """:meth:`update`'s sums and histogram by the compiled kernel (the same
        quantities as the numpy code; its sums run in element order, numpy's pairwise, so
        the last bits may differ between the two, never between runs of one)."""
        af, rf = np.ascontiguousarray(af, np.float64), np.ascontiguousarray(rf, np.float64)
        p = self.params
        closed = p.reset is ResetMode.SUBTRACT and not p.leak  # ideal_counts' closed form
        r_star = None if self.membrane or closed else np.ascontiguousarray(
            ideal_counts(np.clip(af, 0.0, self.upper), t, p) / t)
        sums, counts = np.zeros(21), np.zeros(2, np.int64)
        hist = np.zeros(len(ACT_BINS) - 1, np.int64)
        lib.diag_sums_f64(af.ctypes.data, rf.ctypes.data,
                          None if r_star is None else r_star.ctypes.data, af.size,
                          self.upper, float(t), float(p.v0), float(max(p.multi_spike, 1) * t),
                          int(closed), int(self.membrane), _EDGES.ctypes.data,
                          len(ACT_BINS) - 1, sums.ctypes.data, counts.ctypes.data,
                          hist.ctypes.data)
        self.sums += sums[:5]
        self.err["total"] += sums[9:12]
        self.act_hist += hist
        self.act_over += int(counts[1])
        if not self.membrane:
            self.zsums += sums[5:8]
            self.clipped += int(counts[0])
            for i, comp in enumerate(COMPONENTS[1:]):
                self.err[comp] += sums[12 + 3 * i:15 + 3 * i]

    def _update_chunk(self, af: np.ndarray, rf: np.ndarray, t: int) -> None:
        self.sums += [af.sum(), rf.sum(), _dot(af, af), _dot(rf, rf), _dot(af, rf)]
        e = rf - af
        self._add("total", e)
        if self.membrane:
            return
        z = np.clip(af, 0.0, self.upper)
        self.zsums += [z.sum(), _dot(z, z), _dot(z, rf)]
        self.clipped += int((af > self.upper).sum())
        r_star = ideal_counts(z, t, self.params) / t
        self._add("clipping", np.subtract(z, af, out=e))
        self._add("quantization", np.subtract(r_star, z, out=e))
        self._add("remainder", np.subtract(rf, r_star, out=e))

    def _add(self, comp: str, e: np.ndarray) -> None:
        self.err[comp] += [e.sum(), np.abs(e).sum(), _dot(e, e)]

    # -- merging -----------------------------------------------------------------------
    def merge(self, other: LayerAccumulator) -> None:
        """Add ``other`` (the same population, later samples) to this accumulator."""
        self.samples += other.samples
        self.spikes += other.spikes
        if len(other.count_hist) > len(self.count_hist):
            self.count_hist = np.pad(self.count_hist,
                                     (0, len(other.count_hist) - len(self.count_hist)))
        self.count_hist[:len(other.count_hist)] += other.count_hist
        self.pairs += other.pairs
        self.sums += other.sums
        self.zsums += other.zsums
        self.clipped += other.clipped
        for c in COMPONENTS:
            self.err[c] += other.err[c]
        self.act_hist += other.act_hist
        self.act_over += other.act_over
        self.points.extend(other.points)

    def state(self) -> dict[str, np.ndarray]:
        """The accumulated sums as plain arrays (no pickling needed to store them)."""
        pts = (np.concatenate(self.points) if self.points
               else np.zeros((0, 2), np.float32))
        return {"counts": np.array([self.samples, self.pairs, self.clipped, self.act_over],
                                   np.int64),
                "spikes": np.array([self.spikes]), "count_hist": self.count_hist,
                "sums": self.sums, "zsums": self.zsums,
                "err": np.stack([self.err[c] for c in COMPONENTS]),
                "act_hist": self.act_hist, "points": pts}

    def load_state(self, st: dict[str, np.ndarray]) -> LayerAccumulator:
        """Replace the sums by ``st`` (from :meth:`state`); returns self."""
        self.samples, self.pairs, self.clipped, self.act_over = (
            int(v) for v in st["counts"])
        self.spikes = float(st["spikes"][0])
        self.count_hist = np.array(st["count_hist"], np.int64)
        self.sums, self.zsums = np.array(st["sums"]), np.array(st["zsums"])
        self.err = {c: np.array(st["err"][i]) for i, c in enumerate(COMPONENTS)}
        self.act_hist = np.array(st["act_hist"], np.int64)
        self.points = [np.array(st["points"], np.float32)] if len(st["points"]) else []
        return self

    # -- results -----------------------------------------------------------------------
    def correlation(self, clipped: bool = False) -> float | None:
        """Pearson r of (a, r) — or of (z, r) with ``clipped`` — over all (sample, neuron)
        pairs; None when either side is constant."""
        m = self.pairs
        if m < 2 or (clipped and self.membrane):
            return None
        sa, sr, saa, srr, sar = self.sums
        if clipped:
            sa, saa, sar = self.zsums
        cov = m * sar - sa * sr
        va, vr = m * saa - sa * sa, m * srr - sr * sr
        if va <= 0 or vr <= 0:
            return None
        return float(np.clip(cov / math.sqrt(va * vr), -1.0, 1.0))

    def summary(self) -> dict:
        """The per-layer entry of metrics.json (None where a value is undefined)."""
        per = max(self.neurons * self.samples, 1)
        out = {"name": self.name, "shape": list(self.shape), "neurons": self.neurons,
               "readout": "membrane" if self.membrane else "spikes"}
        if not self.membrane:
            out["spikes_per_neuron"] = self.spikes / per
            out["spike_rate"] = self.spikes / (per * self.timesteps)
        else:
            out["spikes_per_neuron"] = out["spike_rate"] = None
        if self.pairs:
            m = self.pairs
            out["correlation"] = self.correlation()
            out["correlation_clipped"] = self.correlation(clipped=True)
            out["ann_mean"] = float(self.sums[0] / m)
            out["snn_rate_mean"] = float(self.sums[1] / m)
            out["clipped_fraction"] = None if self.membrane else self.clipped / m
            out["error"] = {c: {"mean": float(v[0] / m), "mean_abs": float(v[1] / m),
                                "rms": math.sqrt(max(v[2], 0.0) / m)}
                            for c, v in self.err.items() if not self.membrane or c == "total"}
        else:
            out["correlation"] = out["correlation_clipped"] = None
            out["clipped_fraction"] = out["error"] = None
        return out

    def diagnostics(self) -> LayerDiagnostics:
        pts = np.concatenate(self.points) if self.points else None
        if pts is not None and len(pts) > self.scatter_cap:
            pts = pts[self.rng.choice(len(pts), self.scatter_cap, replace=False)]
        return LayerDiagnostics(self.name, self.shape, self.timesteps, self.membrane,
                                self.count_hist.copy(), self.act_hist.copy() if self.pairs
                                else None, self.act_over, pts, self.summary())
