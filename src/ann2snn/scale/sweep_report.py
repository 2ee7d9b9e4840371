"""A sweep's summary: sweep.csv, sweep.md, pareto.png and sweep.html in the sweep folder,
beside points/<name>/ (each point's own run folder and report.html)."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

from ..files import write_atomic


def rows(sweep, root: Path) -> list[dict]:
    """One row per point: its settings and its results (from its metrics.json)."""
    out = []
    for p in sweep.points:
        folder = Path(p.config.output.dir)
        m = json.loads((folder / "metrics.json").read_text())
        energy = m.get("energy") or {}
        row = {"point": p.name, **{k: p.settings.get(k) for k in sweep.keys},
               "timesteps": m["timesteps"], "snn_accuracy": m["snn_accuracy"],
               "ann_accuracy": m["ann_accuracy"],
               "synaptic_ops_per_sample": m["synaptic_ops_per_sample"],
               "spikes_per_neuron": m["spikes_per_neuron"]["total"],
               "energy_snn_over_ann": energy.get("snn_over_ann"),
               "report": str((folder / "report.html").relative_to(root))}
        out.append(row)
    return out


def pareto(rs: list[dict], cost: str) -> list[int]:
    """Indices of the rows no other row beats (accuracy at least as high and ``cost`` at
    most as low, one of them strictly), in increasing cost."""
    keep = []
    for i, a in enumerate(rs):
        beaten = any(b["snn_accuracy"] >= a["snn_accuracy"] and b[cost] <= a[cost]
                     and (b["snn_accuracy"] > a["snn_accuracy"] or b[cost] < a[cost])
                     for b in rs)
        if not beaten:
            keep.append(i)
    return sorted(keep, key=lambda i: rs[i][cost])


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown(rs: list[dict]) -> str:
    cols = [c for c in rs[0] if c != "report"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for r in rs]
    return "\n".join(lines) + "\n"


def plot(rs: list[dict], path: Path) -> Path:
    """Accuracy against synaptic operations per sample and against T; the Pareto front of
    each drawn as a line."""
    from ..report.plots import _save, plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, cost, label in ((axes[0], "synaptic_ops_per_sample", "synaptic ops per sample"),
                            (axes[1], "timesteps", "time steps T")):
        ax.scatter([r[cost] for r in rs], [r["snn_accuracy"] for r in rs], color="#446")
        front = pareto(rs, cost)
        ax.plot([rs[i][cost] for i in front], [rs[i]["snn_accuracy"] for i in front],
                color="#c33", label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("SNN accuracy")
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
    return _save(fig, path)


def write_summary(sweep, root: Path) -> None:
    rs = rows(sweep, root)
    root.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rs[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rs)
    write_atomic(root / "sweep.csv", buf.getvalue().encode())
    md = markdown(rs)
    write_atomic(root / "sweep.md", md.encode())
    png = plot(rs, root / "pareto.png")
    write_atomic(root / "sweep.html", page(sweep, rs, png).encode())


def page(sweep, rs: list[dict], png: Path) -> str:
    """A self-contained page: the table (each point linked to its report) and the plot."""
    cols = [c for c in rs[0] if c != "report"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(
            f'<td><a href="{html.escape(r["report"])}">{html.escape(r[c])}</a></td>'
            if c == "point" else f"<td>{html.escape(_fmt(r[c]))}</td>" for c in cols)
        + "</tr>" for r in rs)
    img = base64.b64encode(png.read_bytes()).decode()
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>sweep "
            f"{html.escape(sweep.source.name)}</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px}"
            "table{border-collapse:collapse}th,td{border:1px solid #ccd;padding:.2em .6em}"
            "th{background:#eef}img{max-width:100%}</style></head><body>"
            f"<h1>Sweep: {html.escape(sweep.source.name)}</h1>"
            f"<p>{len(rs)} points over {html.escape(', '.join(sweep.keys))}; each point's "
            "own report is linked from its name.</p>"
            f"<h2>Results</h2><table><tr>{head}</tr>{body}</table>"
            "<h2>Accuracy against cost</h2>"
            f"<figure><img alt='Pareto plot' src='data:image/png;base64,{img}'>"
            "<figcaption>SNN accuracy against synaptic operations per sample (left) and "
            "against the number of time steps (right); red: the Pareto front."
            "</figcaption></figure></body></html>\n")

