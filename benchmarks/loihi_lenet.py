"""The loihi backend (nengo-loihi's emulator) against the built-in integer simulator on
a converted MNIST LeNet (average pooling), quantized with ``--target loihi``.

Trains the LeNet-5 of nengo_lenet.py, converts it, quantizes it for Loihi (8-bit
weights, per-layer thresholds, reset to zero, synaptic delay 1) and simulates the first
--num-samples test samples with both, printing the number of samples whose output
spike counts are identical, the spike totals per population, the accuracies (float
network at delay 0, the Loihi profile) and the time per sample of each, measured side
by side in this run. The figures in docs/backends.md ("Loihi") come from this script.

Run by hand (not a test):  ANN2SNN_DATA=/path/to/data python benchmarks/loihi_lenet.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from nengo_lenet import train  # the LeNet-5 (average pooling) and its training

import ann2snn
from ann2snn.data import load_dataset
from ann2snn.quantize import quantize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--num-samples", type=int, default=1000)
    ap.add_argument("--timesteps", "-T", type=int, default=64)
    args = ap.parse_args()
    torch.manual_seed(0)
    train_set = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    model = train(train_set.x, train_set.y, args.epochs)
    snn = ann2snn.convert(model, train_set.x[:1000], per_channel=False, v0=0.0)  # chip: per layer
    q = quantize(snn, calibration=train_set.x[:1000], target="loihi")
    x, y = test.x[:args.num_samples], test.y[:args.num_samples]
    kw = dict(timesteps=args.timesteps, evaluate_ann=False, diagnostics=False,
              example_sample=None)
    f = snn.simulate(x, y, batch_size=100, **kw)
    t0 = time.perf_counter()
    a = q.simulate(x, y, batch_size=100, synaptic_delay=1, **kw)
    t_builtin = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = ann2snn.simulate(q, x, labels=y, backend="loihi", max_samples=None, progress=True,
                         **kw)
    t_loihi = time.perf_counter() - t0
    same = int((a.snn_readout == b.snn_readout).all(1).sum())
    print(f"\n{len(x)} MNIST test samples, T = {args.timesteps}")
    print(f"accuracy: float network (delay 0, reset by subtraction) "
          f"{f.snn_accuracy * 100:.2f}%; Loihi profile: built-in "
          f"{a.snn_accuracy * 100:.2f}%, loihi emulator {b.snn_accuracy * 100:.2f}%")
    print(f"identical output spike counts: {same}/{len(x)} samples")
    print(f"identical predictions at every step: "
          f"{int((a.snn_predictions == b.snn_predictions).all(0).sum())}/{len(x)}")
    for k in a.spike_counts:
        u, v = a.spike_counts[k], b.spike_counts[k]
        print(f"  spikes {k:<16} built-in {u:>12.0f}  loihi {v:>12.0f}  diff {v - u:+.0f}")
    thr = {p.name: p.threshold for p in q.graph if p.population}
    print(f"thresholds: {thr}; input scale {q.graph.quant.input_scale:.4g}")
    print(f"time per sample: built-in (integer) {t_builtin / len(x) * 1e3:.2f} ms, loihi "
          f"emulator {t_loihi / len(x) * 1e3:.1f} ms (ratio {t_loihi / t_builtin:.0f}x)")
    print(f"numpy {np.__version__}")


if __name__ == "__main__":
    main()
