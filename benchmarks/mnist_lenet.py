"""MNIST LeNet-5 benchmark: SNN accuracy vs ANN, and simulation cost vs T ANN passes.

Trains a LeNet-5-style CNN (batch norm, max pooling) on MNIST, converts it, simulates
the full test set and prints:
  - ANN accuracy, SNN accuracy at T = 32 and T = 64 (targets: within 0.3 and 0.1 pp);
  - the time of simulating T = 32 vs 32 batched ANN forward passes over the same data,
    measured side by side in this process with the same batch size (target <= 1.5x),
    and throughput in sample-timesteps per second.

Run by hand (not a test):  ANN2SNN_DATA=/path/to/data python benchmarks/mnist_lenet.py
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import ann2snn
from ann2snn.data import load_dataset


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def train(x, y, epochs: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=epochs * (len(x) // 128 + 1))
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
    return model.eval()


def trained(data_dir, weights, epochs: int = 1):
    """(LeNet-5 in eval mode, MNIST train, MNIST test): the weights from the file
    ``weights`` where it exists, else trained for ``epochs`` on 10,000 training images
    (and saved there if ``weights`` is given). The benchmarks' shared setup."""
    train_set = load_dataset("mnist", "train", data_dir=data_dir)
    test = load_dataset("mnist", "test", data_dir=data_dir)
    model = LeNet5()
    if weights and Path(weights).is_file():
        model.load_state_dict(torch.load(weights, weights_only=True))
    else:
        model = train(train_set.x[:10000], train_set.y[:10000], epochs)
        if weights:
            torch.save(model.state_dict(), weights)
    return model.eval(), train_set, test


@torch.no_grad()
def time_ann(model, x, passes: int, batch_size: int, channels_last: bool = False) -> float:
    """Seconds for ``passes`` forward passes of every batch. ``channels_last``: model and
    input in that memory layout (oneDNN's faster convolutions, which the simulator uses)."""
    xt = torch.as_tensor(x)
    if channels_last:
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)
        xt = xt.contiguous(memory_format=torch.channels_last)
    t0 = time.perf_counter()
    for i in range(0, len(xt), batch_size):
        xb = xt[i:i + batch_size]
        for _ in range(passes):
            model(xb)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir", help="folder with the MNIST IDX files (else $ANN2SNN_DATA)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--num-samples", type=int, default=10000)
    ap.add_argument("--speed-samples", type=int, default=10000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--percentiles", default="99.9,99.99",
                    help="normalization percentiles to report accuracy for (default 99.9,99.99)")
    ap.add_argument("--weights", help="reuse this state_dict if it exists, else train and save it")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    train_set = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir).subset(args.num_samples)
    t0 = time.perf_counter()
    if args.weights and Path(args.weights).is_file():
        model = LeNet5()
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
        print(f"loaded LeNet-5 weights from {args.weights}")
    else:
        model = train(train_set.x, train_set.y, args.epochs)
        print(f"trained LeNet-5 for {args.epochs} epochs in {time.perf_counter() - t0:.0f} s")
        if args.weights:
            torch.save(model.state_dict(), args.weights)
    rng = np.random.default_rng(0)
    calib = train_set.x[rng.choice(len(train_set), 1000, replace=False)]
    for p in [float(v) for v in args.percentiles.split(",")]:
        snn = ann2snn.convert(model, calib, percentile=p)
        res = snn.simulate(test, timesteps=64, batch_size=args.batch_size, device=args.device,
                           diagnostics=False)
        acc = res.snn_accuracy_per_step
        ann = res.ann_accuracy
        print(f"percentile {p}: ANN accuracy {ann * 100:.2f}% ({res.num_samples} test images)")
        for t in (8, 16, 32, 64):
            print(f"  SNN accuracy at T = {t:<3} {acc[t - 1] * 100:.2f}%  "
                  f"(ANN - SNN = {(ann - acc[t - 1]) * 100:+.2f} pp)")
    snn = ann2snn.convert(model, calib, percentile=99.9)

    # speed: same process, same batch size, side by side
    xs = test.x[:args.speed_samples]
    ys = test.y[:args.speed_samples]
    T = 32
    time_ann(model, xs[:args.batch_size], 2, args.batch_size)  # warm-up
    snn.simulate(xs[:args.batch_size], ys[:args.batch_size], timesteps=4, evaluate_ann=False,
                 diagnostics=False, example_sample=None)
    rows = []
    for rep in range(3):
        ta = time_ann(model, xs, T, args.batch_size)
        tl = time_ann(model, xs, T, args.batch_size, channels_last=True)
        t0 = time.perf_counter()
        snn.simulate(xs, ys, timesteps=T, batch_size=args.batch_size, evaluate_ann=False,
                     device=args.device, diagnostics=False, example_sample=None)
        ts = time.perf_counter() - t0
        rows.append((ta, tl, ts))
        print(f"run {rep}: {T} ANN passes {ta:.2f} s (channels-last {tl:.2f} s), SNN T={T} "
              f"{ts:.2f} s, ratio {ts / ta:.2f} (vs channels-last {ts / tl:.2f})")
    for label, col in (("ANN passes", 0), ("channels-last ANN passes", 1)):
        ratio = float(np.median([r[2] / r[col] for r in rows]))
        print(f"median of the per-run ratios SNN(T={T}) / {T} {label}: {ratio:.2f}  "
              f"(batch {args.batch_size}, {len(xs)} samples, {torch.get_num_threads()} threads)")
    best = min(r[2] for r in rows)
    print(f"throughput (fastest run): {len(xs) * T / best:,.0f} sample-timesteps/s")


if __name__ == "__main__":
    main()
