"""The nengo backend against the built-in simulator on a converted MNIST LeNet.

Trains a LeNet-5 (average pooling) on MNIST, converts it, and simulates the first
--num-samples test samples with both, in float mode and in integer mode (8-bit
weights), printing: identical predictions (float), identical output spike counts per
sample and identical spike totals per population (integer), the first divergence that
``ann2snn diff`` names for float samples whose predictions differ, and the time per
sample of each backend measured side by side in this run. The figures in
docs/backends.md ("Nengo") come from this script.

Run by hand (not a test):  ANN2SNN_DATA=/path/to/data python benchmarks/nengo_lenet.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

import ann2snn
from ann2snn.analysis.diff import diff_traces, format_diff
from ann2snn.analysis.trace import record_trace
from ann2snn.backends.nengo.runner import NengoSNN
from ann2snn.data import load_dataset
from ann2snn.quantize import QuantSpec, quantize

#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


class LeNetAvg(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def train(x, y, epochs: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = LeNetAvg()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def compare(name: str, snn, x, y, timesteps: int, trace_diverging: int, lanes: int) -> None:
    kw = dict(timesteps=timesteps, evaluate_ann=False, diagnostics=False, example_sample=None)
    t0 = time.perf_counter()
    a = snn.simulate(x, y, batch_size=100, **kw)
    t_builtin = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = ann2snn.simulate(snn, x, labels=y, backend="nengo", max_samples=None,
                       lanes=lanes, batch_size=lanes, **kw)
    t_nengo = time.perf_counter() - t0
    pa, pb = a.snn_predictions[-1], b.snn_predictions[-1]
    same_pred = float((pa == pb).mean())
    same_counts = int((a.snn_readout == b.snn_readout).all(1).sum())
    layers = {k: (a.spike_counts[k], b.spike_counts[k]) for k in a.spike_counts}
    print(f"\n== {name}: {len(x)} samples, T = {timesteps}")
    print(f"accuracy: built-in {a.snn_accuracy * 100:.2f}%, nengo {b.snn_accuracy * 100:.2f}%")
    print(f"identical final predictions: {same_pred * 100:.2f}% "
          f"({int((pa == pb).sum())}/{len(x)})")
    print(f"identical predictions at every step: "
          f"{int((a.snn_predictions == b.snn_predictions).all(0).sum())}/{len(x)}")
    print(f"identical output spike counts: {same_counts}/{len(x)} samples")
    for k, (u, v) in layers.items():
        print(f"  spikes {k:<16} built-in {u:>12.0f}  nengo {v:>12.0f}  diff {v - u:+.0f}")
    print(f"time per sample: built-in {t_builtin / len(x) * 1e3:.2f} ms, nengo "
          f"{t_nengo / len(x) * 1e3:.1f} ms (ratio {t_nengo / t_builtin:.0f}x)")
    bad = np.flatnonzero((a.snn_readout != b.snn_readout).any(1))[:trace_diverging]
    if len(bad):
        ta = record_trace(snn, x, bad.tolist(), timesteps)
        tb = record_trace(NengoSNN(snn.graph, snn.ann_graph), x, bad.tolist(), timesteps)
        print(f"ann2snn diff of samples {bad.tolist()} (built-in vs nengo):")
        print(format_diff(diff_traces(ta, tb)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--num-samples", type=int, default=1000)
    ap.add_argument("--timesteps", "-T", type=int, default=64)
    ap.add_argument("--lanes", type=int, default=50, help="samples per Nengo run")
    ap.add_argument("--trace-diverging", type=int, default=3,
                    help="diff the traces of up to this many samples whose counts differ")
    args = ap.parse_args()
    torch.manual_seed(0)
    train_set = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    model = train(train_set.x, train_set.y, args.epochs)
    snn = ann2snn.convert(model, train_set.x[:1000], **PRE_ISSUE14)
    x, y = test.x[:args.num_samples], test.y[:args.num_samples]
    compare("float", snn, x, y, args.timesteps, args.trace_diverging,
            args.lanes)
    q = quantize(snn, QuantSpec(weight_bits=8, state_bits=32), train_set.x[:1000])
    compare("integer mode (8-bit weights)", q, x, y, args.timesteps, args.trace_diverging,
            args.lanes)


if __name__ == "__main__":
    main()
