"""report.html: one self-contained page per run folder (images embedded as data: URIs,
inline CSS, no scripts, no external resources), plus the PNG plots it shows."""

from __future__ import annotations

import base64
import html
import json
import logging
import time
from pathlib import Path

from ..files import write_atomic
from . import plots

log = logging.getLogger(__name__)

#: (file name, heading, caption) of every plot, in report order.
PLOTS = (
    ("accuracy_vs_time.png", "Accuracy over time",
     "SNN accuracy after every time step; dashed: the ANN."),
    ("correlation.png", "ANN vs SNN per layer",
     "Normalized ANN activation against SNN firing rate, a random sample of "
     "(sample, neuron) pairs; r is the Pearson correlation over all pairs."),
    ("spike_rates.png", "Spike-rate histograms",
     "Distribution of N/T over all (sample, neuron) pairs, per population."),
    ("raster.png", "Spike raster", "One sample; a random subset of neurons per population."),
    ("membranes.png", "Membrane traces",
     "Membrane before reset of three neurons per population (ANN activation near 0.8, "
     "0.45, 0.15)."),
    ("confusion.png", "Confusion matrix", "Final SNN prediction against the label."),
    ("operations.png", "Operations per time step",
     "Synaptic operations (spikes × fan-out) per sample at each step, stacked by layer."),
    ("normalization.png", "Normalization histograms",
     "Positive ANN activations of the simulated samples divided by the layer scale λ."),
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222;line-height:1.4}
h1{border-bottom:2px solid #446;padding-bottom:.2em}h2{margin-top:1.8em;color:#335}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccd;padding:.25em .6em;text-align:right}
th{background:#eef}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555}pre{background:#f6f6f8;padding:1em;overflow:auto;
font-size:.8em}.note{color:#665;font-size:.9em}
"""


def write_report(result, out: Path) -> Path:
    """Write every plot as PNG into ``out`` and then ``out/report.html``."""
    t0 = time.perf_counter()
    made: dict[str, Path] = {}
    failed: list[str] = []
    ex = result.example
    jobs = {
        "accuracy_vs_time.png": lambda p: plots.plot_accuracy(result, p),
        "correlation.png": lambda p: plots.plot_correlation(result.layers, p),
        "spike_rates.png": lambda p: plots.plot_rate_histograms(result.layers, p),
        "raster.png": lambda p: plots.plot_raster(ex, p) if ex is not None else None,
        "membranes.png": lambda p: plots.plot_membranes(ex, p) if ex is not None else None,
        "confusion.png": lambda p: plots.plot_confusion(result.confusion_matrix(), p),
        "operations.png": lambda p: plots.plot_operations(result, p),
        "normalization.png": lambda p: plots.plot_normalization(
            result.layers, result.normalization, p),
    }
    for name, job in jobs.items():
        try:
            path = job(out / name)
        except Exception as e:  # a plot must not cost the run folder its report
            log.warning("plot %s failed: %s: %s", name, type(e).__name__, e)
            failed.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if path is not None:
            made[name] = path
    result.wall_time_s["plots"] = time.perf_counter() - t0
    page = render(result, made, failed)
    path = out / "report.html"
    write_atomic(path, page.encode("utf-8"))
    log.info("wrote %s with %d plots in %.2f s", path, len(made), time.perf_counter() - t0)
    return path


def _e(x) -> str:
    return html.escape(str(x))


def _num(v, fmt: str = "{:.4g}") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return fmt.format(v)
    return _e(v)


def _table(header: list[str], rows: list[list]) -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def render(result, images: dict[str, Path], failed: list[str] | None = None) -> str:
    """The report page as a string; ``images`` maps plot file names to PNG files."""
    m = result.metrics()
    pct = "{:.2%}"
    summary = [
        ["ANN accuracy", _num(m["ann_accuracy"], pct)],
        [f"SNN accuracy at T = {result.timesteps}", _num(m["snn_accuracy"], pct)],
        ["samples", _num(result.num_samples)], ["readout", _e(result.readout)],
        ["spikes per neuron per sample", _num(m["spikes_per_neuron"]["total"])],
        ["synaptic operations per sample", _num(m["synaptic_ops_per_sample"])],
        ["ANN MACs per sample", _num(m["ann_macs_per_sample"])],
        ["first-layer MACs per sample (analog input)", _num(m["first_layer_macs_per_sample"])],
    ]
    qcfs = (result.normalization or {}).get("qcfs")
    if qcfs:  # thresholds from QCFS fine-tuning, not from percentiles
        levels = sorted({v["levels"] for v in qcfs.values()})
        summary.append(["thresholds", _e(f"trained QCFS λ of {len(qcfs)} layers (L = "
                                         f"{', '.join(map(str, levels))}), v0 = θ/2")])
    for k, v in result.wall_time_s.items():
        summary.append([f"wall time: {_e(k)} (s)", _num(float(v), "{:.3f}")])
    acc_rows = [[str(t), pct.format(a)] for t, a in result.table()]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>ann2snn report: {_e(result.num_samples)} samples, "
        f"T = {result.timesteps}</title><style>{_CSS}</style></head><body>",
        "<h1>ann2snn run report</h1>",
        "<h2>Summary</h2>", _table(["quantity", "value"], summary),
        _table(["time step t", "SNN accuracy"], acc_rows),
        "<h2>Layers</h2>", _layers_table(m["layers"]),
        '<p class="note">Rates are spikes per neuron per step; a is the ANN activation '
        "divided by the layer scale λ. Error terms are means over (sample, neuron) pairs "
        "of the rate error r − a = clipping + quantization + remainder (docs/"
        "diagnostics.md); their means add up, their mean |·| do not.</p>",
        "<h2>Operations and energy</h2>", _ops_table(m),
        _energy(m["energy"]),
        "<h2>Plots</h2>",
    ]
    for name, title, caption in PLOTS:
        if name not in images:
            continue
        data = base64.b64encode(Path(images[name]).read_bytes()).decode("ascii")
        parts.append(f"<figure><h3>{_e(title)}</h3><img alt=\"{_e(title)}\" "
                     f"src=\"data:image/png;base64,{data}\"><figcaption>{_e(caption)}"
                     "</figcaption></figure>")
    for f in failed or []:
        parts.append(f'<p class="note">plot not drawn: {_e(f)}</p>')
    parts += ["<h2>Configuration</h2>",
              f"<pre>{_e(json.dumps(result.config, indent=2, default=str))}</pre>",
              "</body></html>"]
    return "\n".join(parts)


def _layers_table(layers: list[dict]) -> str:
    rows = []
    for x in layers:
        err = x.get("error") or {}

        def em(c: str, x=err) -> str:
            return _num(x[c]["mean"], "{:+.4f}") if c in x else "–"

        rows.append([_e(x["name"]), _e("×".join(map(str, x["shape"]))), _num(x["neurons"]),
                     _num(x.get("spikes_per_neuron")), _num(x.get("spike_rate")),
                     _num(x.get("correlation"), "{:.4f}"),
                     _num(x.get("clipped_fraction"), "{:.3%}"),
                     em("total"), em("clipping"), em("quantization"), em("remainder")])
    return _table(["population", "shape", "neurons", "spikes/neuron", "rate", "corr(ANN, SNN)",
                   "clipped", "error", "clip", "quant", "rest"], rows)


def _ops_table(m: dict) -> str:
    per = m["synaptic_ops_per_layer_per_sample"]
    macs = m["ann_macs_per_layer"]
    names = list(macs)  # graph order; synaptic-only ops (pooling) after their predecessor
    prev = None
    for k in per:
        if k not in names:
            names.insert(names.index(prev) + 1 if prev in names else len(names), k)
        prev = k
    rows = [[_e(k), _num(per.get(k)), _num(macs.get(k))] for k in names]
    rows.append(["<b>total</b>", _num(m["synaptic_ops_per_sample"]),
                 _num(m["ann_macs_per_sample"])])
    return _table(["layer", "SNN synaptic ops per sample", "ANN MACs per sample"], rows)


def _energy(e: dict) -> str:
    c = e["constants"]
    rows = [["ANN (J per sample)", _num(e["ann_joules_per_sample"])],
            ["SNN (J per sample)", _num(e["snn_joules_per_sample"])],
            ["SNN, first layer recomputed every step", _num(
                e["snn_joules_per_sample_first_layer_every_step"])],
            ["SNN / ANN", _num(e["snn_over_ann"], "{:.3f}")]]
    return ("<h3>Energy estimate (not a measurement)</h3>"
            f"<p class=\"note\">{_e(e['formula'])}. Constants: {c['accumulate_pJ']} pJ per "
            f"accumulate, {c['multiply_accumulate_pJ']} pJ per multiply-accumulate "
            f"({_e(c['source'])}). Memory access and data movement are not counted.</p>"
            + _table(["estimate", "value"], rows))
