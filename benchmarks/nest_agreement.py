"""NEST (through PyNN) against the built-in simulator at synaptic delay 1, on an MNIST LeNet.

Trains a LeNet-5 with average pooling (or loads --weights), converts it with reset to
zero, and runs the first --num-samples MNIST test images in both simulators:

- integer mode (quantized, 8-bit weights): the output spike counts of every sample must
  be identical;
- float mode: the share of samples with the same final prediction (target >= 99.5 %),
  and the samples whose output spike counts differ.

Prints the seconds per sample of each. Run by hand (not a test):
  ANN2SNN_DATA=/path/to/data python benchmarks/nest_agreement.py --num-samples 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import ann2snn
from ann2snn.backends import simulate
from ann2snn.data import load_dataset
from ann2snn.quantize import quantize

#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


class LeNetAvg(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.net(x)


def train(x, y, epochs: int) -> nn.Module:
    torch.manual_seed(0)
    model = LeNetAvg()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def compare(name: str, snn, x, y, timesteps: int, batch: int) -> None:
    t0 = time.perf_counter()
    ref = snn.simulate(x, y, timesteps=timesteps, batch_size=256, synaptic_delay=1,
                       diagnostics=False, example_sample=None, evaluate_ann=False)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = simulate(snn, x, backend="nest", labels=y, timesteps=timesteps, batch_size=batch,
                   diagnostics=False, evaluate_ann=False, progress=True)
    t_nest = time.perf_counter() - t0
    same_pred = np.mean(ref.snn_predictions[-1] == got.snn_predictions[-1])
    diff = np.flatnonzero(np.any(ref.snn_readout != got.snn_readout, axis=1))
    print(f"{name}: {len(x)} samples, T = {timesteps}: identical final predictions "
          f"{same_pred * 100:.2f} %, samples with different output counts/membranes: "
          f"{len(diff)} {diff[:10].tolist()}")
    print(f"  accuracy built-in {ref.snn_accuracy:.4f}, nest {got.snn_accuracy:.4f}; "
          f"seconds per sample: built-in {t_ref / len(x):.4f}, nest {t_nest / len(x):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--num-samples", type=int, default=200)
    ap.add_argument("--timesteps", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=20, help="samples per NEST network")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--weights", help="reuse this state_dict if it exists, else save it")
    ap.add_argument("--modes", default="integer,float")
    args = ap.parse_args()
    tr = load_dataset("mnist", "train", data_dir=args.data_dir)
    te = load_dataset("mnist", "test", data_dir=args.data_dir)
    model = LeNetAvg()
    if args.weights and Path(args.weights).is_file():
        model.load_state_dict(torch.load(args.weights, weights_only=True))
        model.eval()
    else:
        model = train(tr.x, tr.y, args.epochs)
        if args.weights:
            torch.save(model.state_dict(), args.weights)
    calib = tr.x[np.random.default_rng(0).choice(len(tr.x), 1000, replace=False)]
    snn = ann2snn.convert(model, calib, reset="zero", **PRE_ISSUE14)
    x, y = te.x[:args.num_samples], te.y[:args.num_samples]
    if "integer" in args.modes:
        compare("integer mode", quantize(snn, calibration=calib), x, y,
                args.timesteps, args.batch_size)
    if "float" in args.modes:
        compare("float mode", snn, x, y, args.timesteps, args.batch_size)


if __name__ == "__main__":
    main()
