"""Compare two traces and name the first divergence (``ann2snn diff``, docs/traces.md).

Two values differ when ``|a − b| > atol`` (both NaN count as equal; compared in
float64, so int32 and float32 traces compare directly). The kinds compared are
``current``, ``v_pre_reset``, ``v`` and ``spikes`` (``ann`` is an input of neither
simulation and is not compared).

The first divergence is the smallest position in *simulation order*: earliest time step
first, then the layer in topological order (as listed in the trace's meta), then the
sample, then the flat (C-order) neuron index. At one step a layer's current depends on
the spikes of the layers before it, so this order points at the cause, not a consequence.

Traces recorded at different synaptic delays (meta ``synaptic_delay``, docs/design.md §3)
are refused: their spikes are not meant to agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .traceio import STEP_KINDS, Trace, TraceError

ORDER = ("time step (earliest first), then layer in topological order, then sample, "
         "then flat neuron index (C order)")


@dataclass
class KindDiff:
    """One kind of one layer: how many values differ and by how much at most."""

    mismatches: int
    total: int
    max_abs: float


@dataclass
class LayerDiff:
    name: str
    op: str
    shape: tuple[int, ...]
    kinds: dict[str, KindDiff] = field(default_factory=dict)
    only_in: dict[str, list[str]] = field(default_factory=dict)  #: side -> kinds only there

    @property
    def equal(self) -> bool:
        return all(k.mismatches == 0 for k in self.kinds.values())


@dataclass
class Divergence:
    """Where the traces first differ, with both values and the neuron's inputs."""

    layer: str
    op: str
    step: int  #: 0-based time step
    sample: int  #: position in the trace's samples
    sample_index: int  #: the dataset index of that sample
    neuron: int  #: flat index (C order)
    index: tuple[int, ...]  #: the same as a multi-index into the layer shape
    values: dict[str, tuple[float, float]]  #: kind -> (A, B) at this position
    differing: list[str]  #: the kinds that differ here
    current: tuple[float, float] | None  #: input current at this step, A and B
    v_before: tuple[float, float] | None  #: v after reset at the previous step (None at t=0)


@dataclass
class TraceDiff:
    atol: float
    layers: list[LayerDiff]
    first: Divergence | None
    notes: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.first is None

    def to_dict(self) -> dict:
        def kd(k: KindDiff) -> dict:
            return {"mismatches": k.mismatches, "total": k.total, "max_abs_diff": k.max_abs}

        first = None
        if self.first is not None:
            f = self.first
            first = {"layer": f.layer, "op": f.op, "step": f.step, "sample": f.sample,
                     "sample_index": f.sample_index, "neuron": f.neuron,
                     "index": list(f.index), "differing": f.differing,
                     "values": {k: list(v) for k, v in f.values.items()},
                     "current": list(f.current) if f.current else None,
                     "v_before": list(f.v_before) if f.v_before else None}
        return {"equal": self.equal, "atol": self.atol, "order": ORDER, "notes": self.notes,
                "layers": [{"name": x.name, "op": x.op, "shape": list(x.shape), "equal": x.equal,
                            "kinds": {k: kd(v) for k, v in x.kinds.items()},
                            "only_in": x.only_in} for x in self.layers],
                "first_divergence": first}


def _order(a: Trace, b: Trace) -> list[str]:
    """Layer order: from whichever trace has its layer order from meta (A first)."""
    if a.ordered or not b.ordered:
        return a.layer_names
    return b.layer_names


def diff_traces(a: Trace, b: Trace, atol: float = 0.0,
                layers: list[str] | None = None) -> TraceDiff:
    """Compare ``a`` and ``b`` layer by layer. Raises :class:`TraceError` when they cannot
    be compared (different steps or samples, layer sets that differ, sizes that differ)."""
    if atol < 0:
        raise TraceError(f"--atol must be >= 0, got {atol}")
    notes: list[str] = []
    da, db = a.synaptic_delay, b.synaptic_delay
    if da is not None and db is not None and da != db:
        raise TraceError(f"the traces were recorded at different synaptic delays: A {da} "
                         f"step(s), B {db} step(s), so their spikes are not meant to agree; "
                         "record both at the same delay (ann2snn trace --synaptic-delay "
                         f"{max(da, db)})")
    if (da is None) != (db is None):
        notes.append("the trace without a manifest does not say its synaptic delay; the "
                     f"other was recorded at {da if db is None else db} step(s)")
    if a.timesteps != b.timesteps:
        raise TraceError(f"the traces have different lengths: A {a.timesteps} steps, "
                         f"B {b.timesteps} steps; record both with the same --timesteps")
    if len(a.samples) != len(b.samples):
        raise TraceError(f"the traces hold different numbers of samples: A {len(a.samples)} "
                         f"{a.samples[:8]}, B {len(b.samples)} {b.samples[:8]}")
    if a.samples != b.samples:
        if a.ordered and b.ordered:
            raise TraceError(f"the traces hold different samples: A {a.samples[:8]}, "
                             f"B {b.samples[:8]}")
        notes.append("samples compared by position (one trace has no manifest)")
    for key in sorted(set(a.extra) | set(b.extra)):
        va, vb = a.extra.get(key), b.extra.get(key)
        if va is not None and vb is not None and va != vb and key not in \
                ("neuron_index", "synaptic_delay"):
            notes.append(f"{key}: {va} (A) vs {vb} (B)")
    names_a, names_b = set(a.layer_names), set(b.layer_names)
    if layers is None:
        if names_a != names_b:
            common = [x for x in _order(a, b) if x in names_a & names_b]
            raise TraceError(
                "the traces hold different layers.\n"
                f"  only in A: {', '.join(sorted(names_a - names_b)) or '-'}\n"
                f"  only in B: {', '.join(sorted(names_b - names_a)) or '-'}\n"
                f"  common:    {', '.join(common) or '-'}\n"
                + (f"Compare the common layers with --layers {' '.join(common)}" if common
                   else "There is nothing in common to compare."))
        chosen = _order(a, b)
    else:
        missing = {side: [x for x in layers if x not in names]
                   for side, names in (("A", names_a), ("B", names_b))}
        if missing["A"] or missing["B"]:
            raise TraceError("layers not in both traces: "
                             + "; ".join(f"missing in {s}: {', '.join(v)}"
                                         for s, v in missing.items() if v)
                             + f". Common layers: {', '.join(sorted(names_a & names_b))}")
        rank = {x: i for i, x in enumerate(_order(a, b))}
        chosen = sorted(dict.fromkeys(layers), key=lambda x: rank.get(x, len(rank)))
    out: list[LayerDiff] = []
    firsts: list[tuple[int, int, int, int, str]] = []
    masks: dict[str, np.ndarray] = {}
    compared = 0
    for rank, name in enumerate(chosen):
        la, lb = a.layer(name), b.layer(name)
        if la.size != lb.size:
            raise TraceError(f"layer '{name}' has {la.size} neurons {la.shape} in A but "
                             f"{lb.size} {lb.shape} in B")
        info = la if (la.op != "?" or lb.op == "?") else lb
        if la.shape != lb.shape:
            notes.append(f"layer '{name}': shapes {la.shape} (A) and {lb.shape} (B) compared "
                         "flat (C order)")
        ld = LayerDiff(name, info.op, info.shape)
        ka, kb = set(a.kinds(name)) & set(STEP_KINDS), set(b.kinds(name)) & set(STEP_KINDS)
        for side, only in (("A", ka - kb), ("B", kb - ka)):
            if only:
                ld.only_in[side] = sorted(only, key=STEP_KINDS.index)
        mask = None
        for kind in (k for k in STEP_KINDS if k in ka & kb):
            xa = _flat(a.get(name, kind))
            xb = _flat(b.get(name, kind))
            d = np.abs(xa - xb)
            both_nan = np.isnan(xa) & np.isnan(xb)
            bad = ~(d <= atol) & ~both_nan
            if (np.isnan(d) & bad).any():
                max_abs = float("nan")  # NaN on one side only
            else:
                rest = d[~both_nan]
                max_abs = float(rest.max()) if rest.size else 0.0
            ld.kinds[kind] = KindDiff(int(bad.sum()), int(bad.size), max_abs)
            mask = bad if mask is None else (mask | bad)
            compared += 1
        out.append(ld)
        if mask is not None and mask.any():
            masks[name] = mask
            t = int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(1))[0])
            s = int(np.flatnonzero(mask[t].any(1))[0])
            i = int(np.flatnonzero(mask[t, s])[0])
            firsts.append((t, rank, s, i, name))
    if compared == 0:
        raise TraceError("the traces have no kind of any chosen layer in common "
                         "(current, v_pre_reset, v, spikes); nothing to compare")
    first = None
    if firsts:
        t, _, s, i, name = min(firsts)
        first = _divergence(a, b, name, t, s, i, atol)
    return TraceDiff(atol, out, first, notes)


def _flat(arr: np.ndarray) -> np.ndarray:
    """(T, S, *shape) -> float64 (T, S, N)."""
    return np.asarray(arr, dtype=np.float64).reshape(arr.shape[0], arr.shape[1], -1)


def _divergence(a: Trace, b: Trace, name: str, t: int, s: int, i: int,
                atol: float) -> Divergence:
    la, lb = a.layer(name), b.layer(name)
    info = la if (la.op != "?" or lb.op == "?") else lb
    values: dict[str, tuple[float, float]] = {}
    differing = []
    for kind in STEP_KINDS:
        xa, xb = a.get(name, kind), b.get(name, kind)
        if xa is None or xb is None:
            continue
        va, vb = (float(_flat(x)[t, s, i]) for x in (xa, xb))
        values[kind] = (va, vb)
        if not (abs(va - vb) <= atol or (np.isnan(va) and np.isnan(vb))):
            differing.append(kind)
    cur = values.get("current")
    v_before = None
    va_, vb_ = a.get(name, "v"), b.get(name, "v")
    if t > 0 and va_ is not None and vb_ is not None:
        v_before = (float(_flat(va_)[t - 1, s, i]), float(_flat(vb_)[t - 1, s, i]))
    index = tuple(int(j) for j in np.unravel_index(i, info.shape)) if info.shape else (i,)
    sid = a.samples[s] if s < len(a.samples) else s
    return Divergence(name, info.op, t, s, sid, i, index, values, differing, cur, v_before)


def format_diff(d: TraceDiff, name_a: str = "A", name_b: str = "B") -> str:
    """The human-readable report printed by ``ann2snn diff``."""
    lines = []
    rows = [("layer", "op", "spikes differ", "max |dv|", "max |dv_pre|", "max |dI|", "")]
    for x in d.layers:
        k = x.kinds

        def num(kind: str, k=k) -> str:
            return f"{k[kind].max_abs:.4g}" if kind in k else "-"

        sp = (f"{k['spikes'].mismatches} / {k['spikes'].total}" if "spikes" in k else "-")
        extra = "; ".join(f"only in {s}: {', '.join(v)}" for s, v in x.only_in.items())
        rows.append((x.name, x.op, sp, num("v"), num("v_pre_reset"), num("current"),
                     ("equal" if x.equal else "DIFFERENT") + (f" ({extra})" if extra else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    for note in d.notes:
        lines.append(f"note: {note}")
    lines.append(f"(values differ when |A - B| > atol = {d.atol:g})")
    if d.first is None:
        lines.append(f"\nequal: {name_a} and {name_b} agree on every compared value")
        return "\n".join(lines)
    f = d.first
    lines.append(f"\nfirst divergence (order: {ORDER}):")
    lines.append(f"  layer {f.layer} ({f.op}), step t={f.step} (0-based), sample {f.sample} "
                 f"(dataset index {f.sample_index}), neuron {f.neuron} = index {f.index}")
    w = max([len(k) for k in f.values] + [len("current I(t)")])
    for kind, (va, vb) in f.values.items():
        mark = "   <- differs" if kind in f.differing else ""
        lines.append(f"    {kind.ljust(w)}  A {va:<14.9g} B {vb:.9g}{mark}")
    if f.op == "Input":
        lines.append("  this is the input as presented: the traces were fed different inputs "
                     "(check the encoding, its seed and rate, and the data preprocessing)")
        ndiff = sum(1 for x in d.layers if not x.equal)
        lines.append(f"\ndifferent: {ndiff} of {len(d.layers)} layers differ")
        return "\n".join(lines)
    lines.append("  inputs to this neuron at this step:")
    cur = (f"A {f.current[0]:<14.9g} B {f.current[1]:.9g}" if f.current
           else "not in both traces")
    lines.append(f"    {'current I(t)'.ljust(w)}  {cur}")
    if f.step == 0:
        lines.append(f"    {'v before'.ljust(w)}  the initial membrane v0·θ (not in a trace)")
    else:
        vb4 = (f"A {f.v_before[0]:<14.9g} B {f.v_before[1]:.9g}" if f.v_before
               else "not in both traces")
        lines.append(f"    {'v(t-1)'.ljust(w)}  {vb4}   (after reset at t={f.step - 1})")
    ndiff = sum(1 for x in d.layers if not x.equal)
    lines.append(f"\ndifferent: {ndiff} of {len(d.layers)} layers differ")
    return "\n".join(lines)
