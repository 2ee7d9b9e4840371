"""Benchmark: MNIST LeNet-5 in integer mode and as generated C, side by side.

Trains a LeNet-5-style CNN for one epoch on MNIST, converts it, quantizes it to 8-bit
weights / 32-bit membranes / 8-bit input, and reports at T = 32 on the test set:

- accuracy of the ANN, the float SNN and the integer SNN (the issue's bound: the
  integer SNN may cost at most 0.2 percentage points);
- time per sample of the generated C program (one core, gcc -O2, one sample at a time)
  next to the Python integer and float simulators (torch, batches of 256, all threads),
  all measured in this run on this machine;
- the bytes of weight data (int8 weights, int32 biases and thresholds) vs float32;
- that the C program is bit-exact: `make check` on the first samples (every output at
  every step) and equal predictions and readouts on the whole test set.

Run:  ANN2SNN_DATA=/path/to/data python benchmarks/c_export.py [--num-samples N]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import ann2snn
from ann2snn.backends.c import export_c
from ann2snn.backends.c.writer import inputs_bytes
from ann2snn.data import load_dataset
from ann2snn.ir.quant import thresholds
from ann2snn.quantize import QuantSpec, quantize
from ann2snn.sim.integer import quantize_input

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]


#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun 1998) with ReLU: conv 6@5x5 (pad 2), pool, conv 16@5x5, pool,
    120, 84, 10."""

    def __init__(self, pool: str = "avg") -> None:
        super().__init__()
        p = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), p(2),
                                      nn.Conv2d(6, 16, 5), nn.ReLU(), p(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                                        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def train(x: np.ndarray, y: np.ndarray, pool: str, epochs: int = 1, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = LeNet5(pool)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def timed_run(net, x: np.ndarray, timesteps: int, batch: int = 256):
    """Predictions (N,), readouts (N, K) and seconds of ``net.run_batch`` over ``x``."""
    preds, reads = [], []
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        bo = net.run_batch(torch.as_tensor(x[i:i + batch]), timesteps, count_ops=False)
        preds.append(bo.predictions[-1].numpy())
        reads.append(bo.readout.numpy())
    return np.concatenate(preds), np.concatenate(reads), time.perf_counter() - t0


def read_outputs(path: Path, timesteps: int):
    raw = path.read_bytes()
    _, _, n, k, t = np.frombuffer(raw[:20], "<u4")
    rows = np.frombuffer(raw[20:], "<i4").reshape(n, t * k + k + 1)
    return rows[:, -1], rows[:, t * k:t * k + k]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timesteps", "-T", type=int, default=32)
    ap.add_argument("--num-samples", type=int, default=None, help="test samples (all)")
    ap.add_argument("--check-samples", type=int, default=200,
                    help="samples for `make check` (every output at every step)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--pool", choices=["avg", "max"], default="avg")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="keep the C project here (default: temp)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    T = args.timesteps
    trn = load_dataset("mnist", "train", data_dir=args.data_dir)
    tst = load_dataset("mnist", "test", data_dir=args.data_dir)
    x, y = tst.x[:args.num_samples], tst.y[:args.num_samples]
    n = len(x)

    t0 = time.perf_counter()
    model = train(trn.x, trn.y, args.pool, args.epochs)
    t_train = time.perf_counter() - t0
    snn = ann2snn.convert(model, trn.x[:1000], **PRE_ISSUE14)
    qsnn = quantize(snn, QuantSpec(weight_bits=8, state_bits=32, input_bits=8), trn.x[:1000])
    with torch.no_grad():
        ann_acc = float((model(torch.as_tensor(x)).argmax(1).numpy() == y).mean())

    pf, _, t_float = timed_run(snn, x, T)
    pi, ri, t_int = timed_run(qsnn, x, T)
    acc_f, acc_i = float((pf == y).mean()), float((pi == y).mean())

    out = Path(args.out or tempfile.mkdtemp(prefix="ann2snn_c_"))
    nc = min(args.check_samples, n)
    export_c(qsnn, out, x=x[:nc], timesteps=T)
    subprocess.run(["make", "-s", "-C", str(out)], check=True)
    check = subprocess.run(["make", "-s", "-C", str(out), "check"], capture_output=True,
                           text=True)
    # all samples, a binary built for speed (no trace support), timed by the program itself
    (out / "inputs_all.bin").write_bytes(inputs_bytes(
        qsnn.graph, quantize_input(x, qsnn.graph).numpy(), np.arange(n), T))
    subprocess.run(["gcc", *CFLAGS, "-o", "snn_bench", "main.c", "snn_model.c"], cwd=out,
                   check=True)
    t0 = time.perf_counter()
    bench = subprocess.run(["./snn_bench", "inputs_all.bin", "--quiet", "--bench", "--out",
                            "outputs_all.bin"], cwd=out, capture_output=True, text=True,
                           check=True)
    t_c_wall = time.perf_counter() - t0
    us_c = float(bench.stdout.split("time per sample:")[1].split()[0])
    pc, rc = read_outputs(out / "outputs_all.bin", T)
    c_equal = bool(np.array_equal(pc, pi) and np.array_equal(rc, ri))

    wbytes_int = qsnn.graph.quant.weight_bytes
    wbytes_float = sum(a.astype(np.float32).nbytes for nd in snn.graph
                       for a in nd.arrays().values())
    fig = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
                   f"torch threads, gcc -O2 single core",
        "model": f"LeNet-5 ({args.pool} pooling), {args.epochs} epoch(s), "
                 f"trained in {t_train:.0f} s",
        "timesteps": T, "test_samples": n,
        "accuracy_ann": ann_acc, "accuracy_float_snn": acc_f, "accuracy_int_snn": acc_i,
        "quantization_cost_pp": (acc_f - acc_i) * 100,
        "within_0.2pp": (acc_f - acc_i) * 100 <= 0.2 + 1e-9,
        "us_per_sample_c": us_c, "us_per_sample_c_wall": 1e6 * t_c_wall / n,
        "us_per_sample_python_int": 1e6 * t_int / n,
        "us_per_sample_python_float": 1e6 * t_float / n,
        "weight_bytes_int": wbytes_int, "weight_bytes_float32": wbytes_float,
        "c_make_check": check.stdout.strip().splitlines()[-1] if check.stdout else check.stderr,
        "c_equals_python_int_on_all_samples": c_equal,
        "thresholds": thresholds(qsnn.graph), "c_project": str(out),
    }
    print(f"MNIST LeNet-5, T = {T}, {n} test samples ({fig['model']}; {fig['machine']})")
    print(f"  accuracy: ANN {ann_acc * 100:.2f}%   float SNN {acc_f * 100:.2f}%   "
          f"int8 SNN {acc_i * 100:.2f}%   cost {fig['quantization_cost_pp']:+.2f} pp "
          f"({'within' if fig['within_0.2pp'] else 'OUTSIDE'} the 0.2 pp bound)")
    print(f"  time per sample: C {us_c:.0f} us (wall {fig['us_per_sample_c_wall']:.0f} us)   "
          f"Python integer {fig['us_per_sample_python_int']:.0f} us   "
          f"Python float {fig['us_per_sample_python_float']:.0f} us")
    print(f"  weight data: {wbytes_int} bytes as integers ({wbytes_float} as float32)")
    print(f"  make check ({nc} samples, every output at every step): {fig['c_make_check']}")
    print(f"  C == Python integer simulator on all {n} samples "
          f"(predictions and readouts): {c_equal}")
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2))
    return 0 if check.returncode == 0 and c_equal else 1


if __name__ == "__main__":
    sys.exit(main())
