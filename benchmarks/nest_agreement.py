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
import json
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


def compare(name: str, snn, x, y, timesteps: int, batch: int, chunk: int,
            out: Path | None) -> None:
    """Both simulators chunk by chunk; after each chunk the running figures are printed
    and, with ``out``, written to that JSON file (so a run stopped early still counts)."""
    preds, diff, t_ref, t_nest, acc_ref, acc_nest = [], [], 0.0, 0.0, 0, 0
    for lo in range(0, len(x), chunk):
        xc, yc = x[lo:lo + chunk], y[lo:lo + chunk]
        t0 = time.perf_counter()
        ref = snn.simulate(xc, yc, timesteps=timesteps, batch_size=256, synaptic_delay=1,
                           diagnostics=False, example_sample=None, evaluate_ann=False)
        t_ref += time.perf_counter() - t0
        t0 = time.perf_counter()
        got = simulate(snn, xc, backend="nest", labels=yc, timesteps=timesteps,
                       batch_size=batch, diagnostics=False, evaluate_ann=False)
        t_nest += time.perf_counter() - t0
        preds.append(ref.snn_predictions[-1] == got.snn_predictions[-1])
        diff += (lo + np.flatnonzero(np.any(ref.snn_readout != got.snn_readout, axis=1))
                 ).tolist()
        acc_ref += int((ref.snn_predictions[-1] == yc).sum())
        acc_nest += int((got.snn_predictions[-1] == yc).sum())
        done = lo + len(xc)
        same = np.concatenate(preds)
        figures = {"mode": name, "samples": done, "timesteps": timesteps,
                   "identical_predictions": float(same.mean()),
                   "different_predictions": np.flatnonzero(~same).tolist(),
                   "different_output_counts": diff,
                   "accuracy_builtin": acc_ref / done, "accuracy_nest": acc_nest / done,
                   "seconds_per_sample_builtin": t_ref / done,
                   "seconds_per_sample_nest": t_nest / done}
        print(f"{name}: {done} samples, T = {timesteps}: identical final predictions "
              f"{same.mean() * 100:.2f} %, samples with different output counts/membranes: "
              f"{len(diff)} {diff[:10]}; accuracy built-in {acc_ref / done:.4f}, nest "
              f"{acc_nest / done:.4f}; s/sample built-in {t_ref / done:.4f}, nest "
              f"{t_nest / done:.3f}", flush=True)
        if out is not None:
            out.write_text(json.dumps(figures, indent=1))


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
    ap.add_argument("--chunk", type=int, default=50, help="samples between progress reports")
    ap.add_argument("--out", help="write the running figures of each mode to OUT-<mode>.json")
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
                args.timesteps, args.batch_size, args.chunk,
                Path(f"{args.out}-integer.json") if args.out else None)
    if "float" in args.modes:
        compare("float mode", snn, x, y, args.timesteps, args.batch_size, args.chunk,
                Path(f"{args.out}-float.json") if args.out else None)


if __name__ == "__main__":
    main()
