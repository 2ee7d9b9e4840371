"""What synaptic delay 1 costs the built-in simulator, beside delay 0, in one run.

Converts the bundled digits CNN (``ann2snn.demo.train_digits_cnn``; no download) and,
with ``--mnist``, the LeNet-5 of benchmarks/mnist_lenet.py trained for one epoch, then
times ``snn.simulate`` at delay 0 and delay 1 alternately, round after round, so both
see the same machine load; prints the median times and the median per-round ratio
(delay 1 / delay 0), float and integer mode, and the accuracy at T of both delays.

    python benchmarks/synaptic_delay.py [--busy] [--mnist]   (ANN2SNN_DATA for --mnist)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

import ann2snn
from ann2snn.data import load_dataset
from ann2snn.quantize import QuantSpec, quantize

#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


def _busy() -> None:
    while True:
        pass


def networks(mnist: bool):
    from ann2snn.demo import train_digits_cnn

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    snn = ann2snn.convert(train_digits_cnn(train.x, train.y, epochs=8, seed=0), train.x[:500],
                          **PRE_ISSUE14)
    yield "digits CNN", snn, test.x, test.y, 64, 359
    yield "digits CNN, integer", quantize(snn, QuantSpec()), test.x, test.y, 64, 359
    if mnist:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from mnist_lenet import LeNet5

        tr, te = load_dataset("mnist", "train"), load_dataset("mnist", "test")
        torch.manual_seed(0)
        model = LeNet5()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        xt, yt = torch.as_tensor(tr.x), torch.as_tensor(tr.y)
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        snn = ann2snn.convert(model.eval(), tr.x[:1000], **PRE_ISSUE14)
        yield "MNIST LeNet-5", snn, te.x[:1000], te.y[:1000], 32, 500


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mnist", action="store_true", help="also MNIST LeNet-5 (1000 images)")
    p.add_argument("--busy", action="store_true", help="a competing busy-loop process")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    busy = None
    if args.busy:
        busy = mp.Process(target=_busy, daemon=True)
        busy.start()
    print("| network | T | delay 0 s | delay 1 s | delay 1 / delay 0 | accuracy d0 / d1 |")
    print("|---|---|---|---|---|---|")
    try:
        for name, snn, x, y, t, b in networks(args.mnist):
            kw = dict(timesteps=t, batch_size=b, diagnostics=False, evaluate_ann=False,
                      example_sample=None)
            snn.simulate(x[:b], y[:b], **{**kw, "timesteps": 4})  # warm-up
            times: dict[int, list[float]] = {0: [], 1: []}
            acc = {}
            for rnd in range(args.rounds):
                for d in ((0, 1) if rnd % 2 == 0 else (1, 0)):
                    t0 = time.perf_counter()
                    r = snn.simulate(x, y, synaptic_delay=d, **kw)
                    times[d].append(time.perf_counter() - t0)
                    acc[d] = r.snn_accuracy
            ratio = float(np.median([a / z for a, z in zip(times[1], times[0])]))
            print(f"| {name} | {t} | {np.median(times[0]):.3f} | {np.median(times[1]):.3f} | "
                  f"{ratio:.3f} | {acc[0]:.4f} / {acc[1]:.4f} |", flush=True)
    finally:
        if busy is not None:
            busy.terminate()
    print(f"\n{args.rounds} rounds, {args.threads} threads, "
          f"{'with' if args.busy else 'without'} a busy loop, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
