"""Which conversion defaults keep residual networks at ANN accuracy (issue 14).

Converts a network with each candidate setting (initial membrane v0, readout,
percentile, per-channel scales), simulates the MNIST test images once for the longest T
and prints the SNN accuracy at each T of --timesteps from that run's accuracy-vs-time
curve (exact: both readouts are causal, the prediction at step t only sees steps <= t).
The networks: the residual networks of benchmarks/resnets.py and the README's LeNet-5
(benchmarks/mnist_lenet.py), trained on first use and cached (--weights-dir).

Run by hand (not a test; minutes per setting on a 2-core CPU):
  ANN2SNN_DATA=/path/to/data python benchmarks/resnet_defaults.py --arch small
  ... --arch lenet --settings old,new
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ann2snn  # noqa: E402
from ann2snn.data import load_dataset  # noqa: E402

#: name -> convert() keyword arguments. "old" is the pre-issue-14 default.
SETTINGS = {
    "old": dict(v0=0.0, per_channel=False, readout="spike_count"),
    "v0.5": dict(v0=0.5, readout="spike_count", per_channel=False),
    "membrane": dict(v0=0.0, readout="membrane", per_channel=False),
    "v0.5+membrane": dict(v0=0.5, readout="membrane", per_channel=False),
    "v0.5+p99.99": dict(v0=0.5, readout="spike_count", percentile=99.99, per_channel=False),
    "v0.5+membrane+p99.99": dict(v0=0.5, readout="membrane", percentile=99.99,
                                 per_channel=False),
    "v0.5+membrane+per-channel": dict(v0=0.5, readout="membrane", per_channel=True),
    "v0.5+per-channel": dict(v0=0.5, readout="spike_count", per_channel=True),
    "v0.5+per-channel+p99.99": dict(v0=0.5, readout="spike_count", per_channel=True,
                                    percentile=99.99),
    "v0.5+per-channel+p99": dict(v0=0.5, readout="spike_count", per_channel=True,
                                 percentile=99.0),
    "v0.5+membrane+p99": dict(v0=0.5, readout="membrane", percentile=99.0, per_channel=False),
    "v0.5+membrane+p99.5": dict(v0=0.5, readout="membrane", percentile=99.5,
                                per_channel=False),
    "v0.5+membrane+per-channel+p99.99": dict(v0=0.5, readout="membrane", per_channel=True,
                                              percentile=99.99),
    "v0.5+membrane+per-channel+p99": dict(v0=0.5, readout="membrane", per_channel=True,
                                           percentile=99.0),
    "new": dict(),  # whatever ann2snn.convert does by default in this tree
}


def load_model(arch: str, weights_dir: Path, train_set):
    if arch == "lenet":
        import mnist_lenet

        path = weights_dir / "lenet5_3ep.pth"
        model = mnist_lenet.LeNet5()
        if path.is_file():
            model.load_state_dict(torch.load(path, weights_only=True))
            return model.eval()
        model = mnist_lenet.train(train_set.x, train_set.y, 3)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
        return model
    import resnets

    return resnets.load_or_train(arch, weights_dir / f"resnet_{arch}.pth", train_set)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["small", "deep", "lenet"], default="small")
    ap.add_argument("--settings", default="old,v0.5,membrane,v0.5+membrane",
                    help=f"comma-separated, from: {', '.join(SETTINGS)}")
    ap.add_argument("--timesteps", default="4,32,64")
    ap.add_argument("--num-samples", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--weights-dir", default="benchmark_weights",
                    help="where trained networks are cached (default ./benchmark_weights)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--data-dir", help="folder with the MNIST IDX files (else $ANN2SNN_DATA)")
    args = ap.parse_args()
    names = args.settings.split(",")
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        ap.error(f"unknown settings {unknown}; choose from {', '.join(SETTINGS)}")
    steps = sorted(int(t) for t in args.timesteps.split(","))
    train_set = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir).subset(args.num_samples)
    model = load_model(args.arch, Path(args.weights_dir), train_set)
    calib = train_set.x[np.random.default_rng(0).choice(len(train_set), 1000, replace=False)]
    rows = []
    print(f"{args.arch}: {len(test)} test images, {torch.get_num_threads()} threads")
    for name in names:
        snn = ann2snn.convert(model, calib, **SETTINGS[name])
        t0 = time.perf_counter()
        res = snn.simulate(test, timesteps=steps[-1], batch_size=args.batch_size,
                           diagnostics=False, example_sample=None)
        acc = res.snn_accuracy_per_step
        row = {"setting": name, "options": SETTINGS[name], "readout": snn.readout_mode,
               "ann": res.ann_accuracy, "snn": {t: float(acc[t - 1]) for t in steps},
               "seconds": time.perf_counter() - t0}
        rows.append(row)
        figs = "  ".join(f"T={t}: {acc[t - 1] * 100:6.2f}%" for t in steps)
        print(f"{name:<28} ANN {res.ann_accuracy * 100:.2f}%  {figs}  "
              f"(ANN - SNN at T={steps[-1]}: {(res.ann_accuracy - acc[-1]) * 100:+.2f} pp; "
              f"{row['seconds']:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"arch": args.arch, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
