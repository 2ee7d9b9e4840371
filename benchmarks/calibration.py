"""Training-free calibration and burst spikes on the pretrained ReLU MNIST LeNet-5.

The LeNet-5 of benchmarks/mnist_lenet.py (batch norm, max pooling, 3 epochs; or
--weights of an earlier run), converted from 1000 training images, simulated on all
10,000 test images. Prints, for T = 1, 2, 4, 8 (each row simulated once to max(T)):
SNN accuracy, ANN − SNN, spikes per neuron and synaptic operations per sample, for
plain conversion (v0 = 0), the shift alone (v0 = 0.5), calibration for --calibrate T
(docs/low-latency.md) and burst spikes (with and without calibration).
Target: calibration within 1 pp of the ANN at T = 8, against plain conversion there.

Run by hand (not a test):
  ANN2SNN_DATA=/path/to/data python benchmarks/calibration.py --weights lenet.pth
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import ann2snn
from ann2snn.data import load_dataset

sys.path.insert(0, str(Path(__file__).parent))
from mnist_lenet import LeNet5, train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir", help="folder with the MNIST IDX files (else $ANN2SNN_DATA)")
    ap.add_argument("--weights", help="reuse this state_dict if it exists, else train and save")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--calibrate", type=int, default=8, help="T of the calibration (default 8)")
    ap.add_argument("--burst", type=int, default=2, help="K of the burst rows (default 2)")
    ap.add_argument("--num-samples", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=500)
    args = ap.parse_args()
    train_set = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir).subset(args.num_samples)
    if args.weights and Path(args.weights).is_file():
        model = LeNet5()
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
        print(f"loaded LeNet-5 weights from {args.weights}")
    else:
        model = train(train_set.x, train_set.y, args.epochs)
        if args.weights:
            torch.save(model.state_dict(), args.weights)
    rng = np.random.default_rng(0)
    calib = train_set.x[rng.choice(len(train_set), 1000, replace=False)]
    T, k = args.calibrate, args.burst
    rows = [("plain (v0 = 0)", {}), ("shift (v0 = 0.5)", {"v0": 0.5}),
            (f"calibrated for T = {T}", {"calibrate_timesteps": T}),
            (f"burst {k}", {"burst": k}),
            (f"burst {k} + calibrated for T = {T}", {"burst": k, "calibrate_timesteps": T})]
    steps = sorted({1, 2, 4, T})
    print(f"{'conversion':<34} {'T':>3} {'SNN':>7} {'ANN-SNN':>8} {'spikes/neuron':>13} "
          f"{'SOPs/sample':>12}  (convert s)")
    for label, kw in rows:
        t0 = time.perf_counter()
        snn = ann2snn.convert(model, calib, **kw)
        conv_s = time.perf_counter() - t0
        for t in steps:  # spikes and SOPs are totals over the run: one run per T
            res = snn.simulate(test, timesteps=t, batch_size=args.batch_size,
                               diagnostics=False, example_sample=None)
            m = res.metrics()
            acc = res.snn_accuracy_per_step[-1]
            print(f"{label:<34} {t:>3} {acc * 100:6.2f}% {(res.ann_accuracy - acc) * 100:+7.2f} "
                  f"{m['spikes_per_neuron']['total']:13.3f} {m['synaptic_ops_per_sample']:12.4g}"
                  f"  ({conv_s:.1f})")
    print(f"ANN accuracy {res.ann_accuracy * 100:.2f}% on {res.num_samples} test images")


if __name__ == "__main__":
    main()
