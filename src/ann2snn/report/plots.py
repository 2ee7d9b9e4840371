"""Matplotlib plots (PNG), headless."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_accuracy(result, path: str | os.PathLike) -> Path:
    """SNN accuracy at every step, with the ANN accuracy as a horizontal line."""
    path = Path(path)
    acc = result.snn_accuracy_per_step * 100
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(range(1, len(acc) + 1), acc, label="SNN", color="tab:blue")
    if result.ann_accuracy is not None:
        ax.axhline(result.ann_accuracy * 100, color="tab:red", ls="--",
                   label=f"ANN ({result.ann_accuracy * 100:.2f}%)")
    ax.set_xlabel("time step")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"SNN accuracy over time ({result.num_samples} samples)")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path
