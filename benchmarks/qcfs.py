"""QCFS fine-tuning targets (issue 14): accurate SNNs at T <= 8.

1. MNIST LeNet-5 (benchmarks/mnist_lenet.py's network and training): the ReLU network,
   then QCFS L = 4 fine-tuned from it with ann2snn.lowlatency.finetune; SNN accuracy
   on all 10,000 test images at T = 1, 2, 4, 8 (+16, 32) against the QCFS ANN's own
   accuracy. Targets: within 0.2 pp at T = 4, within 1 pp at T = 2.
2. Fashion-MNIST, a small VGG-style CNN, QCFS L = 4: within 0.5 pp of its ANN at T = 8.

For each, plain rate conversion of the ReLU network at the same T is printed beside
it, and the wall time per fine-tuning epoch on this machine. Readout: the default
(spike count of the output population) and the membrane readout of the output layer.
Validation for fine-tuning is a held-out part of the TRAINING split; the test split
is only used for the final figures.

Run by hand (not a test):
    ANN2SNN_DATA=/path/to/data python benchmarks/qcfs.py [--only mnist|fashion]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import ann2snn
from ann2snn.data import load_dataset
from ann2snn.ir import Readout
from ann2snn.lowlatency import finetune

sys.path.insert(0, str(Path(__file__).parent))
from mnist_lenet import LeNet5, train  # noqa: E402

STEPS = (1, 2, 4, 8, 16, 32)


class SmallVGG(nn.Module):
    """conv16-conv16-pool-conv32-conv32-pool-fc128-fc10, batch norm after each conv (small
    enough to train on two shared CPU cores in minutes)."""

    def __init__(self) -> None:
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(*block(1, 16), *block(16, 16), nn.AvgPool2d(2),
                                      *block(16, 32), *block(32, 32), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
                                        nn.Dropout(0.2), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def readout(snn: ann2snn.SNN, mode: Readout) -> ann2snn.SNN:
    """The same network read from the output layer's membrane (argmax v, the QCFS
    default) or from its spike counts."""
    g = snn.graph
    on = mode is Readout.MEMBRANE
    nodes = [dataclasses.replace(x, membrane_readout=on) if x.name == g.output else x
             for x in g]
    return ann2snn.SNN(g.replace(nodes, meta={**g.meta, "readout": mode.value}), snn.ann_graph)


def evaluate(label: str, snn: ann2snn.SNN, test, args) -> dict:
    steps = [t for t in STEPS if t <= args.max_steps]
    res = snn.simulate(test, timesteps=max(steps), batch_size=args.batch_size,
                       diagnostics=False, example_sample=None)
    acc = res.snn_accuracy_per_step
    cells = "  ".join(f"T={t}: {acc[t - 1] * 100:6.2f}%" for t in steps)
    print(f"  {label:<34} ANN {res.ann_accuracy * 100:6.2f}%  {cells}", flush=True)
    return {"ann": res.ann_accuracy, **{t: acc[t - 1] for t in steps}}


def run(name: str, relu: nn.Module, train_set, test, args, targets) -> None:
    rng = np.random.default_rng(0)
    calib = train_set.x[rng.choice(len(train_set), 1000, replace=False)]
    print(f"\n{name}: {len(test)} test images")
    if not args.no_plain:
        evaluate("plain conversion (ReLU, v0 = 0)", ann2snn.convert(relu, calib), test, args)
    x, y = train_set.x, train_set.y
    t0 = time.perf_counter()
    res = finetune(relu, x, y, levels=args.levels, epochs=args.qcfs_epochs, lr=args.lr,
                   progress=False, on_epoch=lambda r: print(
                       f"  epoch {r['epoch']}: loss {r['loss']:.4f}, train "
                       f"{r['train_accuracy'] * 100:.2f}%, val {r['val_accuracy'] * 100:.2f}% "
                       f"({r['seconds']:.0f} s)", flush=True))
    secs = [r["seconds"] for r in res.history]
    print(f"  fine-tuning: {len(secs)} epochs on {len(x)} training images "
          f"(10% held out for validation), {np.mean(secs):.0f} s per epoch (total "
          f"{time.perf_counter() - t0:.0f} s, {torch.get_num_threads()} threads); best "
          f"epoch {res.best_epoch}, val {res.best_val_accuracy * 100:.2f}%")
    snn = ann2snn.convert(res.model, calib)
    print(f"  converted: readout {snn.graph.meta['readout']} (the QCFS default)")
    variants = [(f"QCFS, {mode} readout (L={args.levels})", readout(snn, Readout(mode)))
                for mode in args.readouts.split(",")]
    t_cal = max(t for t, _ in targets)
    extra = ([(f"+ burst {args.burst}", dict(burst=args.burst))] if args.burst > 1 else []) \
        + ([(f"+ calibration (T = {t_cal})", dict(calibrate_timesteps=t_cal))]
           if args.calibrate else []) \
        + ([(f"+ burst {args.burst} + calibration", dict(burst=args.burst,
                                                        calibrate_timesteps=t_cal))]
           if args.calibrate and args.burst > 1 else [])
    for label, kw in extra:  # the same fine-tuned network, other conversion options
        variants.append((f"QCFS (L={args.levels}) {label}", ann2snn.convert(res.model, calib,
                                                                          **kw)))
    for label, net in variants:
        acc = evaluate(label, net, test, args)
        for t, tol in targets:
            gap = (acc["ann"] - acc[t]) * 100
            print(f"    T = {t}: ANN - SNN = {gap:+.2f} pp (target <= {tol} pp): "
                  f"{'met' if gap <= tol else 'MISSED'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--only", choices=("mnist", "fashion"))
    ap.add_argument("--relu-epochs", type=int, default=3)
    ap.add_argument("--qcfs-epochs", type=int, default=3)
    ap.add_argument("--levels", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--train-samples", type=int, default=0,
                    help="train and fine-tune on the first N training images only (0: all)")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--max-steps", type=int, default=32, help="simulate up to this T")
    ap.add_argument("--readouts", default="spike_count,membrane",
                    help="output readouts to report for the QCFS network")
    ap.add_argument("--no-plain", action="store_true", help="skip plain conversion")
    ap.add_argument("--burst", type=int, default=1,
                    help="also convert with burst spikes of up to K per step (K > 1)")
    ap.add_argument("--calibrate", action="store_true",
                    help="also convert with training-free calibration for the target T")
    ap.add_argument("--weights-dir", default=None,
                    help="reuse/keep the ReLU networks' state_dicts in this folder")
    args = ap.parse_args()
    cases = [("mnist", "MNIST LeNet-5", LeNet5, [(4, 0.2), (2, 1.0)]),
             ("fashion-mnist", "Fashion-MNIST small VGG", SmallVGG, [(8, 0.5)])]
    for ds, name, cls, targets in cases:
        if args.only and not ds.startswith(args.only):
            continue
        train_set = load_dataset(ds, "train", data_dir=args.data_dir)
        if args.train_samples:  # the ReLU network and the fine-tuning see the same subset
            train_set = train_set.subset(args.train_samples)
            print(f"{name}: training on the first {len(train_set)} training images only")
        test = load_dataset(ds, "test", data_dir=args.data_dir)
        path = Path(args.weights_dir) / f"{cls.__name__}_relu.pth" if args.weights_dir else None
        t0 = time.perf_counter()
        if path is not None and path.is_file():
            relu = cls()
            relu.load_state_dict(torch.load(path, weights_only=True))
        else:
            if cls is LeNet5:
                relu = train(train_set.x, train_set.y, args.relu_epochs)
            else:
                relu = train_vgg(train_set.x, train_set.y, args.relu_epochs)
            print(f"trained the ReLU {name} for {args.relu_epochs} epochs in "
                  f"{time.perf_counter() - t0:.0f} s")
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save(relu.state_dict(), path)
        run(name, relu.eval(), train_set, test, args, targets)


def train_vgg(x, y, epochs: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = SmallVGG()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * (len(x) // 128 + 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=steps)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
            sched.step()
    return model.eval()


if __name__ == "__main__":
    main()
