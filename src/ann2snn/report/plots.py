"""Matplotlib plots (PNG, Agg backend) of a run; each function writes one file.

Per-layer figures show at most ``MAX_PANELS`` populations (evenly spaced, first and
last included) and scatter plots use the capped, seeded sample kept by
:mod:`ann2snn.analysis.layers`, so a large run folder plots as fast as the demo's.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib
import numpy as np

from ..files import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MAX_PANELS = 12
_DPI = 90


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=_DPI)
    finally:
        plt.close(fig)
    return path


def _panels(items: list, width: float = 3.0, height: float = 2.6):
    """A grid of subplots for up to MAX_PANELS items; returns (fig, axes, chosen items)."""
    if len(items) > MAX_PANELS:
        pick = np.unique(np.linspace(0, len(items) - 1, MAX_PANELS).round().astype(int))
        items = [items[i] for i in pick]
    cols = min(4, len(items))
    rows = math.ceil(len(items) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[len(items):]:
        ax.set_visible(False)
    return fig, list(axes.flat[:len(items)]), items


def plot_accuracy(result, path: str | os.PathLike) -> Path:
    """SNN accuracy at every step, with the ANN accuracy as a horizontal line."""
    acc = result.snn_accuracy_per_step * 100
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(1, len(acc) + 1), acc, label="SNN", color="tab:blue")
    if result.ann_accuracy is not None:
        ax.axhline(result.ann_accuracy * 100, color="tab:red", ls="--",
                   label=f"ANN ({result.ann_accuracy * 100:.2f}%)")
    ax.set_xlabel("time step")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"SNN accuracy over time ({result.num_samples} samples)")
    if len(acc) > 1:
        ax.set_xscale("log", base=2)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_correlation(layers, path: str | os.PathLike) -> Path | None:
    """Per population: normalized ANN activation vs SNN rate, a sample of points."""
    items = [d for d in layers if d.scatter is not None and len(d.scatter)]
    if not items:
        return None
    fig, axes, items = _panels(items)
    for ax, d in zip(axes, items):
        a, r = d.scatter[:, 0], d.scatter[:, 1]
        ax.scatter(a, r, s=4, alpha=0.35, color="tab:blue", rasterized=True, linewidths=0)
        hi = float(max(1.0, np.nanmax(a) if a.size else 1.0))
        lo = float(min(0.0, np.nanmin(a) if a.size else 0.0))
        ax.plot([lo, hi], [lo, hi], color="gray", lw=0.8, ls=":", label="rate = activation")
        if not d.membrane_readout:
            ax.plot([max(lo, 0), 1, hi], [0 if lo < 0 else max(lo, 0), 1, 1],
                    color="tab:red", lw=0.8, label="ideal IF (clip at 1)")
        corr = d.summary.get("correlation")
        ax.set_title(f"{d.name}  r = {corr:.3f}" if corr is not None else d.name, fontsize=9)
        ax.set_xlabel("ANN activation / λ", fontsize=8)
        ax.set_ylabel("SNN rate (v(T)/T)" if d.membrane_readout else "SNN rate (spikes/step)",
                      fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"ANN vs SNN per layer (≤ {max(len(d.scatter) for d in items)} "
                 "points each, random sample)", fontsize=10)
    return _save(fig, path)


def plot_rate_histograms(layers, path: str | os.PathLike) -> Path | None:
    """Per population: distribution of the rate N/T over all (sample, neuron) pairs."""
    items = [d for d in layers if not d.membrane_readout and d.count_hist.sum() > 0]
    if not items:
        return None
    fig, axes, items = _panels(items)
    for ax, d in zip(axes, items):
        h = d.count_hist
        rates = np.arange(len(h)) / d.timesteps
        edges = (np.arange(len(h) + 1) - 0.5) / d.timesteps
        ax.stairs(np.where(h > 0, h, np.nan), edges, fill=True, color="tab:green",
                  baseline=0.5)
        ax.set_yscale("log")
        mean = float((h * rates).sum() / max(h.sum(), 1))
        silent = h[0] / max(h.sum(), 1)
        ax.set_title(f"{d.name}  mean {mean:.3f}, silent {silent:.0%}", fontsize=9)
        ax.set_xlabel("spike rate N/T", fontsize=8)
        ax.set_ylabel("neurons × samples", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Spike-rate histograms", fontsize=10)
    return _save(fig, path)


def plot_raster(example, path: str | os.PathLike) -> Path | None:
    """Spike raster of one sample: a subset of neurons per population, stacked."""
    names = [x.name for x in example.layers if example.get(x.name, "spikes") is not None]
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    base, ticks, labels = 0, [], []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, name in enumerate(names):
        s = example.get(name, "spikes")[:, 0].reshape(example.timesteps, -1)
        t, i = np.nonzero(s)
        ax.scatter(t + 1, base + i, s=6, marker="|", color=colors[j % len(colors)],
                   rasterized=True, linewidths=0.8)
        ticks.append(base + s.shape[1] / 2)
        labels.append(f"{name}\n({s.shape[1]} shown)")
        base += s.shape[1]
        ax.axhline(base - 0.5, color="gray", lw=0.5)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlim(0.5, example.timesteps + 0.5)
    ax.set_ylim(-0.5, base - 0.5)
    ax.invert_yaxis()
    ax.set_xlabel("time step")
    ax.set_title(f"Spike raster, sample {example.samples[0]}")
    return _save(fig, path)


def _membrane_neurons(example, name: str, k: int = 3) -> np.ndarray:
    """Neurons whose ANN activation is nearest 0.8, 0.45 and 0.15 (else the busiest)."""
    ann = example.get(name, "ann")
    if ann is not None:
        a = ann[0].reshape(-1)
        out: list[int] = []
        for target in (0.8, 0.45, 0.15)[:k]:
            order = np.argsort(np.abs(a - target), kind="stable")
            out.append(int(next(i for i in order if i not in out)))
        return np.array(out)
    s = example.get(name, "spikes")
    v = s if s is not None else example.get(name, "v")
    act = np.abs(v[:, 0].reshape(v.shape[0], -1)).sum(0)
    return np.argsort(-act, kind="stable")[:k]


def plot_membranes(example, path: str | os.PathLike) -> Path | None:
    """Membrane v before reset for a few neurons per population of one sample."""
    names = [x.name for x in example.layers if example.get(x.name, "v_pre_reset") is not None]
    if not names:
        return None
    fig, axes, names = _panels(names, width=3.4, height=2.4)
    for ax, name in zip(axes, names):
        vp = example.get(name, "v_pre_reset")[:, 0].reshape(example.timesteps, -1)
        s = example.get(name, "spikes")
        s = None if s is None else s[:, 0].reshape(example.timesteps, -1)
        ann = example.get(name, "ann")
        t = np.arange(1, example.timesteps + 1)
        for i in _membrane_neurons(example, name, min(3, vp.shape[1])):
            lab = f"#{i}" + (f" a={ann[0].reshape(-1)[i]:.2f}" if ann is not None else "")
            line, = ax.plot(t, vp[:, i], lw=0.9, label=lab)
            if s is not None:
                ts = np.nonzero(s[:, i])[0]
                ax.plot(ts + 1, vp[ts, i], "o", ms=2.5, color=line.get_color())
        ax.axhline(1.0, color="k", ls="--", lw=0.7)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time step", fontsize=8)
        ax.set_ylabel("v before reset", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower right")
    fig.suptitle(f"Membrane traces, sample {example.samples[0]} (dashed: threshold θ = 1; "
                 "dots: spikes)", fontsize=10)
    return _save(fig, path)


def plot_confusion(cm: np.ndarray, path: str | os.PathLike) -> Path | None:
    """Confusion matrix of the final SNN prediction (last column: no output spike)."""
    k = cm.shape[0]
    if k == 0 or k > 100:
        return None
    fig, ax = plt.subplots(figsize=(min(3 + 0.45 * k, 12), min(2.6 + 0.4 * k, 11)))
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    if k <= 20:
        for i in range(k):
            for j in range(k + 1):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xticks(range(k + 1), [str(i) for i in range(k)] + ["none"], fontsize=7)
    ax.set_yticks(range(k), [str(i) for i in range(k)], fontsize=7)
    ax.set_xlabel("SNN prediction at T")
    ax.set_ylabel("label")
    ax.set_title("Confusion matrix (colour: fraction of the row)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def plot_operations(result, path: str | os.PathLike) -> Path | None:
    """Synaptic operations per step per sample, stacked by layer, beside the ANN's MACs."""
    sops = result.sops_per_step_per_sample()
    if not sops:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    t = np.arange(1, result.timesteps + 1)
    ax.stackplot(t, *[np.asarray(v) for v in sops.values()], labels=list(sops), alpha=0.8)
    macs = sum(result.ann_macs.values())
    ax.axhline(macs, color="tab:red", ls="--", lw=1, label=f"ANN MACs per sample ({macs:.3g})")
    if result.first_layer_macs:  # paid once per sample, so not a per-step curve
        ax.plot([], [], " ", label=f"+ first-layer MACs once per sample "
                                   f"({result.first_layer_macs:.3g})")
    ax.set_xlabel("time step")
    ax.set_ylabel("synaptic operations per sample")
    ax.set_title("Operations per time step (spikes × fan-out)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def plot_normalization(layers, normalization: dict | None, path: str | os.PathLike
                       ) -> Path | None:
    """Per population: histogram of the positive normalized ANN activations of the
    simulated samples; λ (the calibration percentile) sits at 1."""
    from ..analysis.layers import ACT_BINS

    items = [d for d in layers if d.act_hist is not None and d.act_hist.sum() > 0]
    if not items:
        return None
    norm = normalization or {}
    method = norm.get("method", "percentile")
    p = float(norm.get("percentile", 99.9))
    what = f"{p:g}th percentile" if method == "percentile" else "max"
    fig, axes, items = _panels(items)
    for ax, d in zip(axes, items):
        h = d.act_hist
        ax.stairs(np.where(h > 0, h, np.nan), ACT_BINS, fill=True, color="tab:purple",
                  baseline=0.5)
        ax.set_yscale("log")
        ax.axvline(1.0, color="tab:red", lw=1.2, label=f"λ = {what} (calibration)")
        total = h.sum() + d.act_over
        if method == "percentile" and total:
            cum = np.cumsum(h) / total
            j = int(np.searchsorted(cum, p / 100))
            if j < len(h):
                ax.axvline(ACT_BINS[j + 1], color="tab:orange", ls="--", lw=1,
                           label=f"{p:g}th pct. here ≈ {ACT_BINS[j + 1]:.2f}")
        title = d.name + (f"  ({d.act_over} ≥ {ACT_BINS[-1]:g})" if d.act_over else "")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("ANN activation / λ (> 0)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper right")
    fig.suptitle("Normalization: activations of the simulated samples, in units of λ",
                 fontsize=10)
    return _save(fig, path)
