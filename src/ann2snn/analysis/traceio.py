"""The trace format, version 1 (docs/traces.md): one ``.npz`` file or a directory.

A trace holds, for S samples and T time steps, what each traced layer did:

    {layer}/current       (T, S, *shape)  input current I(t) into the population
    {layer}/v_pre_reset   (T, S, *shape)  v(t-1) + I(t): after integrating, before θ and reset
    {layer}/v             (T, S, *shape)  after reset: the state carried to step t+1
    {layer}/spikes        (T, S, *shape)  s(t): 0/1 (counts in multi-spike mode); for the
                                          Input node, the input as presented at step t
    {layer}/ann           (S, *shape)     the normalized ANN activation of the same neurons

plus ``__meta__``: UTF-8 JSON ``{"format": "ann2snn-trace", "version": 1, "timesteps": T,
"samples": [dataset indices], "layers": [{"name", "op", "shape"}, ...], "source": ...}``
with the layers in topological (simulation) order. The directory form is the same
content as ``DIR/manifest.json`` (optional) and ``DIR/<layer>/<kind>.npy`` or ``.csv``;
a CSV has one line ``t,s,x0,...,x{N-1}`` per (t, s), neuron values flattened in C order
(``ann.csv``: one line ``s,x0,...`` per sample). Any numeric dtype is accepted.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Ann2SnnError
from ..files import write_atomic

log = logging.getLogger(__name__)

FORMAT = "ann2snn-trace"
VERSION = 1
#: Per-step kinds, in the order they happen within a step.
STEP_KINDS = ("current", "v_pre_reset", "v", "spikes")
ANN_KIND = "ann"
KINDS = (*STEP_KINDS, ANN_KIND)
_META = "__meta__"


class TraceError(Ann2SnnError):
    """A trace file or directory is missing, malformed, or does not fit another trace."""


@dataclass
class LayerInfo:
    """One traced layer: its node name, op (``Input``, ``IF``, or ``?`` when inferred)
    and per-sample shape."""

    name: str
    op: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "shape": list(self.shape)}


@dataclass
class Trace:
    """Recorded values of S samples over T steps (see the module docstring).

    ``arrays`` maps ``"{layer}/{kind}"`` to numpy arrays. ``ordered`` is False when the
    layer order was inferred from file names (a directory without manifest.json).
    """

    timesteps: int
    samples: list[int]
    layers: list[LayerInfo]
    arrays: dict[str, np.ndarray]
    source: str = ""
    extra: dict = field(default_factory=dict)
    ordered: bool = True

    # -- queries -------------------------------------------------------------------
    @property
    def meta(self) -> dict:
        """The ``__meta__`` / manifest.json content."""
        return {"format": FORMAT, "version": VERSION, "timesteps": int(self.timesteps),
                "samples": [int(s) for s in self.samples],
                "layers": [x.to_dict() for x in self.layers], "source": self.source,
                **self.extra}

    @property
    def layer_names(self) -> list[str]:
        return [x.name for x in self.layers]

    def layer(self, name: str) -> LayerInfo:
        for x in self.layers:
            if x.name == name:
                return x
        raise TraceError(f"the trace has no layer '{name}' (layers: {self.layer_names})")

    @property
    def synaptic_delay(self) -> int | None:
        """The synaptic delay in steps the trace was recorded at (meta key
        ``synaptic_delay``; a meta without it means 0, as every trace written before the
        option and the C backend's); None for a directory without manifest.json."""
        d = self.extra.get("synaptic_delay", 0 if self.ordered else None)
        if d is not None and (isinstance(d, bool) or d not in (0, 1)):
            raise TraceError(f"the trace meta says synaptic_delay {d!r}; it must be 0 or 1")
        return None if d is None else int(d)

    def get(self, layer: str, kind: str) -> np.ndarray | None:
        return self.arrays.get(f"{layer}/{kind}")

    def kinds(self, layer: str) -> list[str]:
        return [k for k in KINDS if f"{layer}/{k}" in self.arrays]

    def validate(self) -> None:
        """Check every array against ``timesteps``, the sample count and the layer shape."""
        names = set(self.layer_names)
        s = len(self.samples)
        for key, arr in self.arrays.items():
            layer, kind = _split_key(key)
            if layer not in names:
                raise TraceError(f"array '{key}' belongs to no layer in the meta "
                                 f"(layers: {sorted(names)})")
            info = self.layer(layer)
            want = (s, *info.shape) if kind == ANN_KIND else (self.timesteps, s, *info.shape)
            if tuple(arr.shape) != want:
                raise TraceError(f"array '{key}' has shape {arr.shape}; the meta says "
                                 f"{want} ((T, S, *shape) with T={self.timesteps}, S={s})")
            if arr.dtype.kind not in "biuf":
                raise TraceError(f"array '{key}' has non-numeric dtype {arr.dtype}")

    # -- writing -------------------------------------------------------------------
    def save(self, path: str | os.PathLike, fmt: str | None = None) -> Path:
        """Write an ``.npz`` file (``path`` ending in .npz) or a directory of ``.npy``
        (``fmt="npy"``, default for directories) or ``.csv`` files (``fmt="csv"``)."""
        self.validate()
        path = Path(path)
        if fmt is None:
            fmt = "npz" if path.suffix == ".npz" else "npy"
        if fmt == "npz":
            return self._save_npz(path)
        if fmt not in ("npy", "csv"):
            raise TraceError(f"trace format {fmt!r}: use npz, npy or csv")
        return self._save_dir(path, fmt)

    def _save_npz(self, path: Path) -> Path:
        import io

        path.parent.mkdir(parents=True, exist_ok=True)
        meta = np.frombuffer(json.dumps(self.meta).encode("utf-8"), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **{_META: meta}, **self.arrays)
        write_atomic(path, buf.getvalue())
        return path

    def _save_dir(self, path: Path, fmt: str) -> Path:
        if path.exists() and not path.is_dir():
            raise TraceError(f"{path} exists and is not a directory")
        if path.is_dir() and any(path.iterdir()) and not (path / "manifest.json").is_file():
            raise TraceError(f"{path} is a non-empty directory that is not a trace; "
                             "choose a new or empty directory")
        if (path / "manifest.json").is_file():  # replace a previous trace's files
            for old in path.glob("*/*"):
                if old.suffix in (".npy", ".csv") and old.stem in KINDS:
                    old.unlink()
        for key, arr in self.arrays.items():
            layer, kind = _split_key(key)
            d = path / layer
            d.mkdir(parents=True, exist_ok=True)
            if fmt == "npy":
                import io

                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(arr))
                write_atomic(d / f"{kind}.npy", buf.getvalue())
            else:
                write_atomic(d / f"{kind}.csv", _csv_bytes(arr, kind))
        write_atomic(path / "manifest.json", json.dumps(self.meta, indent=2).encode("utf-8"))
        return path


def _split_key(key: str) -> tuple[str, str]:
    if "/" not in key:
        raise TraceError(f"array name '{key}' is not '<layer>/<kind>'")
    layer, kind = key.rsplit("/", 1)
    if kind not in KINDS:
        raise TraceError(f"array '{key}': unknown kind '{kind}' (kinds: {', '.join(KINDS)})")
    return layer, kind


def _csv_bytes(arr: np.ndarray, kind: str) -> bytes:
    """Lines ``t,s,x0,...`` (t-major, then sample), or ``s,x0,...`` for ``ann``."""
    if kind == ANN_KIND:
        s = arr.shape[0]
        idx = np.arange(s)[:, None]
        flat = arr.reshape(s, -1)
    else:
        t, s = arr.shape[:2]
        tt, ss = np.meshgrid(np.arange(t), np.arange(s), indexing="ij")
        idx = np.stack([tt.ravel(), ss.ravel()], 1)
        flat = arr.reshape(t * s, -1)
    num = "%d" if arr.dtype.kind in "biu" else "%.9g"  # %.9g round-trips float32 exactly
    fmt = ",".join(["%d"] * idx.shape[1] + [num] * flat.shape[1])
    import io

    buf = io.StringIO()
    rows = np.concatenate([idx.astype(np.float64), flat.astype(np.float64)], 1) \
        if arr.dtype.kind == "f" else np.concatenate([idx, flat.astype(np.int64)], 1)
    np.savetxt(buf, rows, fmt=fmt, delimiter=",")
    return buf.getvalue().encode("ascii")


# -- reading ------------------------------------------------------------------------------
def load_trace(path: str | os.PathLike) -> Trace:
    """Read a trace: an ``.npz`` file, or a directory (manifest.json optional; per layer
    ``<kind>.npy`` or ``<kind>.csv``). Raises :class:`TraceError` on anything malformed."""
    p = Path(path)
    if p.is_dir():
        trace = _load_dir(p)
    elif p.is_file():
        trace = _load_npz(p)
    else:
        raise TraceError(f"{p}: no such trace file or directory")
    trace.validate()
    return trace


def _parse_meta(meta: dict, where: str) -> dict:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TraceError(f"{where}: not an ann2snn trace (format is not '{FORMAT}')")
    ver = meta.get("version")
    if not isinstance(ver, int) or ver < 1:
        raise TraceError(f"{where}: bad format version {ver!r}")
    if ver > VERSION:
        raise TraceError(f"{where}: trace format version {ver} is newer than this ann2snn "
                         f"reads ({VERSION}); upgrade ann2snn")
    try:
        layers = [LayerInfo(str(x["name"]), str(x.get("op", "?")),
                            tuple(int(d) for d in x["shape"])) for x in meta["layers"]]
        out = {"timesteps": int(meta["timesteps"]), "layers": layers,
               "samples": [int(s) for s in meta.get("samples", [])],
               "source": str(meta.get("source", ""))}
    except (KeyError, TypeError, ValueError) as e:
        raise TraceError(f"{where}: malformed trace meta ({type(e).__name__}: {e}); it needs "
                         "timesteps, samples and layers [{name, op, shape}]") from None
    known = {"format", "version", "timesteps", "samples", "layers", "source"}
    out["extra"] = {k: v for k, v in meta.items() if k not in known}
    return out


def _load_npz(p: Path) -> Trace:
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # not a zip, truncated, pickled objects
        raise TraceError(f"{p}: not a readable .npz trace ({type(e).__name__}: {e})") from None
    if _META not in arrays:
        raise TraceError(f"{p}: no '{_META}' entry; not an ann2snn trace")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TraceError(f"{p}: '{_META}' is not UTF-8 JSON ({e})") from None
    m = _parse_meta(meta, str(p))
    for key in arrays:
        _split_key(key)
    return Trace(m["timesteps"], m["samples"] or [], m["layers"], arrays, m["source"],
                 m["extra"])


def _load_dir(p: Path) -> Trace:
    man = p / "manifest.json"
    m = None
    if man.is_file():
        try:
            m = _parse_meta(json.loads(man.read_text("utf-8")), str(man))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise TraceError(f"{man}: not valid JSON ({e})") from None
    names = [x.name for x in m["layers"]] if m else sorted(
        d.name for d in p.iterdir() if d.is_dir() and _kind_files(d))
    if not names:
        raise TraceError(f"{p}: no layer folders with <kind>.npy or <kind>.csv files")
    t = m["timesteps"] if m else None
    s = len(m["samples"]) if m and m["samples"] else None
    raw: dict[str, np.ndarray] = {}
    for name in names:
        for kind, f in _kind_files(p / name).items():
            if f.suffix == ".npy":
                try:
                    raw[f"{name}/{kind}"] = np.load(f, allow_pickle=False)
                except Exception as e:
                    raise TraceError(f"{f}: not a readable .npy file ({e})") from None
            else:
                raw[f"{name}/{kind}"] = _read_csv(f, kind, t, s)
    steps = [a.shape[0] for k, a in raw.items() if not k.endswith("/" + ANN_KIND)]
    t = t if t is not None else (max(steps) if steps else 0)
    nsamp = {a.shape[0 if k.endswith("/" + ANN_KIND) else 1] for k, a in raw.items()}
    if s is None:
        if len(nsamp) > 1:
            raise TraceError(f"{p}: files disagree on the number of samples {sorted(nsamp)}")
        s = nsamp.pop()
    if m:
        layers, samples = m["layers"], m["samples"] or list(range(s))
    else:
        layers = []
        for name in names:
            sizes = {int(np.prod(a.shape[1 if k.endswith("/" + ANN_KIND) else 2:]))
                     for k, a in raw.items() if k.rsplit("/", 1)[0] == name}
            if len(sizes) > 1:
                raise TraceError(f"{p / name}: files disagree on the number of neurons "
                                 f"{sorted(sizes)}")
            layers.append(LayerInfo(name, "?", (sizes.pop(),)))
        samples = list(range(s))
    info = {x.name: x for x in layers}
    arrays = {}
    for key, a in raw.items():
        name, kind = key.rsplit("/", 1)
        lead = a.shape[:1] if kind == ANN_KIND else a.shape[:2]
        if int(np.prod(a.shape[len(lead):])) == info[name].size:
            a = a.reshape(*lead, *info[name].shape)
        arrays[key] = a
    src = m["source"] if m else f"directory {p} (no manifest.json: layers inferred, flat shapes)"
    return Trace(t, samples, layers, arrays, src, m["extra"] if m else {}, ordered=m is not None)


def _kind_files(d: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for kind in KINDS:
        npy, csv = d / f"{kind}.npy", d / f"{kind}.csv"
        if npy.is_file() and csv.is_file():
            raise TraceError(f"{d}: both {npy.name} and {csv.name}; keep one")
        if npy.is_file() or csv.is_file():
            out[kind] = npy if npy.is_file() else csv
    return out


_INT = re.compile(r"^[\s,+\-0-9]*$")


def _read_csv(f: Path, kind: str, t: int | None, s: int | None) -> np.ndarray:
    """Parse ``t,s,x...`` (or ``s,x...`` for ann) lines into (T, S, N) (or (S, N))."""
    text = f.read_text("ascii", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise TraceError(f"{f}: empty file")
    lead = 1 if kind == ANN_KIND else 2
    widths = {ln.count(",") + 1 for ln in lines}
    if len(widths) != 1 or min(widths) <= lead:
        raise TraceError(f"{f}: every line needs {'s' if lead == 1 else 't,s'} and then the "
                         f"same number of neuron values (found {sorted(widths)[:5]} columns)")
    is_int = all(_INT.match(ln) for ln in lines)
    try:
        rows = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        bad = next((i for i, ln in enumerate(lines)
                    if not all(_is_num(v) for v in ln.split(","))), 0)
        raise TraceError(f"{f}, line {bad + 1}: not comma-separated numbers: "
                         f"{lines[bad][:80]!r}") from None
    idx = rows[:, :lead].astype(np.int64)
    vals = rows[:, lead:]
    if (idx < 0).any():
        raise TraceError(f"{f}: negative t or s index")
    shape = tuple(int(idx[:, i].max()) + 1 for i in range(lead))
    if lead == 2:
        shape = (t if t is not None else shape[0], s if s is not None else shape[1])
    else:
        shape = (s if s is not None else shape[0],)
    if any(int(idx[:, i].max()) >= shape[i] for i in range(lead)):
        raise TraceError(f"{f}: index out of range for {shape} (T, S) from the manifest")
    flat = np.ravel_multi_index(tuple(idx.T), shape)
    if len(flat) != int(np.prod(shape)) or len(np.unique(flat)) != len(flat):
        raise TraceError(f"{f}: expected exactly one line per {'(t, s)' if lead == 2 else 's'} "
                         f"for {shape}, got {len(flat)} lines (missing or repeated rows)")
    out = np.empty((int(np.prod(shape)), vals.shape[1]),
                   dtype=np.int64 if is_int else np.float32)
    out[flat] = vals.astype(out.dtype)
    return out.reshape(*shape, vals.shape[1])


def _is_num(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False
