"""Benchmark: peak memory (RSS) of `SNN.simulate` at T = 100, 1000 and 10,000, and of a
10,000-sample run at T = 256, side by side in one run.

Each point runs in its own child process, which reports its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``: imports, network and data included) and
the simulation's wall time. Every point is run twice:

- bounded (the default): past results.STEP_PREDICTIONS_MAX entries the run keeps per
  step the number of correct predictions, not every sample's prediction at every step;
- "table kept": STEP_PREDICTIONS_MAX raised so that the (T, N) table of predictions is
  kept, the way every run worked before (the (T, batch) predictions of each batch too).

The network is the bundled digits CNN (trained for a few epochs; 8x8 inputs, so the
long runs take a minute, not hours); the samples are the digits test set, repeated to
the count asked for. The RSS of the bounded runs must not grow with T; the table-kept
column shows what it cost before.

Run:  python benchmarks/memory.py [--samples 200] [--big-samples 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(net: str, timesteps: int, samples: int, keep: bool) -> None:
    import numpy as np
    import torch

    import ann2snn
    import ann2snn.results
    from ann2snn.data import load_dataset

    torch.set_num_threads(1)
    if keep:
        ann2snn.results.STEP_PREDICTIONS_MAX = 1 << 62
    test = load_dataset("digits", "test")
    reps = -(-samples // len(test.x))
    x = np.concatenate([test.x] * reps)[:samples]
    y = np.concatenate([test.y] * reps)[:samples]
    snn = ann2snn.load(net)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    res = snn.simulate(x, y, timesteps=timesteps, batch_size=256)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_kib": peak, "before_kib": before, "wall_s": wall,
                      "accuracy": res.snn_accuracy,
                      "table": res.snn_predictions is not None}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200, help="samples at T = 100 ... 10,000")
    ap.add_argument("--big-samples", type=int, default=10_000, help="samples at T = 256")
    ap.add_argument("--timesteps", type=int, nargs="+", default=[100, 1000, 10_000])
    ap.add_argument("--child", nargs=4, metavar=("NET", "T", "N", "KEEP"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        net, t, n, keep = a.child
        child(net, int(t), int(n), keep == "1")
        return

    import ann2snn
    from ann2snn.data import load_dataset
    from ann2snn.demo import train_digits_cnn

    train = load_dataset("digits", "train")
    snn = ann2snn.convert(train_digits_cnn(train.x, train.y, epochs=4, seed=0), train.x[:500])
    points = [(t, a.samples) for t in a.timesteps] + [(256, a.big_samples)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        net = Path(tmp) / "net.snn"
        snn.save(net)
        rows = []
        for t, n in points:
            row = [t, n]
            for keep in (False, True):
                out = subprocess.run([sys.executable, __file__, "--child", str(net), str(t),
                                      str(n), "1" if keep else "0"], env=env, check=True,
                                     capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                row.append(r)
            rows.append(row)
    print(f"digits CNN, batch 256, 1 thread, peak RSS of a child process per run "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"{'T':>6} {'samples':>8} {'bounded MiB':>12} {'(sim MiB)':>10} "
          f"{'table kept MiB':>15} {'(sim MiB)':>10} {'T x N table MiB':>16} "
          f"{'wall s':>7} {'same acc':>9}")
    for t, n, b, k in rows:
        table = t * n * 2 / 2**20
        print(f"{t:>6} {n:>8} {b['peak_kib'] / 1024:12.1f} "
              f"{(b['peak_kib'] - b['before_kib']) / 1024:10.1f} "
              f"{k['peak_kib'] / 1024:15.1f} {(k['peak_kib'] - k['before_kib']) / 1024:10.1f} "
              f"{table:16.1f} {b['wall_s']:7.1f} {b['accuracy'] == k['accuracy']!s:>9}")


if __name__ == "__main__":
    main()
