"""Benchmark: samples per second of `ann2snn simulate` at 1 and 2 processes, side by side.

Converts the bundled digits CNN (trained for a few epochs), then simulates the test set
at T steps with the built-in simulator three ways, in this one run on this machine:

- 1 process with every thread (torch's default);
- 2 processes (`--workers 2`, torch.distributed with gloo) with cpu_count / 2 threads
  each (the launcher's default, OMP_NUM_THREADS);
- 2 processes with 1 thread each.

Each is timed as the simulation alone (the metrics' `wall_time_s.snn`, summed over the
batches of all ranks, divided by the world size; and the whole command's wall clock,
imports and report included), and the metrics of every run are checked equal to the
first's (except wall times). Run it on a quiet machine; with `--busy` a competing
busy-loop process runs alongside, as a shared machine has.

Run:  python benchmarks/scale_out.py [--timesteps 64] [--busy]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


def _busy() -> None:
    while True:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timesteps", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--busy", action="store_true", help="run a busy loop alongside")
    a = ap.parse_args()

    import ann2snn
    from ann2snn.data import load_dataset
    from ann2snn.demo import train_digits_cnn

    train = load_dataset("digits", "train")
    snn = ann2snn.convert(train_digits_cnn(train.x, train.y, epochs=4, seed=0), train.x[:500],
                          **PRE_ISSUE14)
    busy = multiprocessing.Process(target=_busy, daemon=True) if a.busy else None
    if busy:
        busy.start()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        net = Path(tmp) / "net.snn"
        snn.save(net)
        rows, first = [], None
        for name, workers, threads in [("1 process", 1, None),
                                       ("2 processes", 2, max(1, cpus // 2)),
                                       ("2 processes, 1 thread", 2, 1)]:
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            env = dict(os.environ)
            if threads is not None:
                env["OMP_NUM_THREADS"] = str(threads)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ann2snn", "simulate", str(net), "-d",
                            "digits", "-T", str(a.timesteps), "--batch-size",
                            str(a.batch_size), "--workers", str(workers), "-q", "--out",
                            str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
            total = time.perf_counter() - t0
            m = json.loads((out / "metrics.json").read_text())
            wall = m.pop("wall_time_s")
            first = first or m
            rows.append((name, threads or "all", m["num_samples"] / (wall["snn"] / workers),
                         m["num_samples"] / total, m == first))
    if busy:
        busy.terminate()
    print(f"digits test set, T = {a.timesteps}, batch {a.batch_size}, {cpus} CPUs"
          f"{', with a busy loop' if a.busy else ''}")
    print(f"{'run':<24} {'threads':>8} {'sim samples/s':>14} {'command samples/s':>18} "
          f"{'same metrics':>13}")
    base = rows[0][2]
    for name, th, sim, cmd, same in rows:
        print(f"{name:<24} {th!s:>8} {sim:14.1f} {cmd:18.1f} {same!s:>13}  "
              f"({sim / base:.2f}x)")


if __name__ == "__main__":
    main()
