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
first's (except wall times). Every configuration runs twice in this one run: quiet,
and with a competing busy-loop process (pinned to our last CPU) that the benchmark
starts itself, as on a shared machine; the load average is printed with the figures.

Run:  python benchmarks/scale_out.py [--timesteps 64] [--quiet-only]
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
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    while True:
        pass


def _runs(net: Path, tmp: Path, a, label: str) -> list[tuple]:
    cpus = os.cpu_count() or 1
    rows, first = [], None
    for name, workers, threads in [("1 process", 1, None),
                                   ("2 processes", 2, max(1, cpus // 2)),
                                   ("2 processes, 1 thread", 2, 1)]:
        out = tmp / f"{label}-{name.replace(' ', '_').replace(',', '')}"
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
        rows.append((label, name, threads or "all", m["num_samples"] / (wall["snn"] / workers),
                     m["num_samples"] / total, m == first))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timesteps", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--quiet-only", action="store_true", help="skip the busy-loop runs")
    a = ap.parse_args()

    import ann2snn
    from ann2snn.data import load_dataset
    from ann2snn.demo import train_digits_cnn

    train = load_dataset("digits", "train")
    snn = ann2snn.convert(train_digits_cnn(train.x, train.y, epochs=4, seed=0), train.x[:500],
                          **PRE_ISSUE14)
    cpus = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        net = Path(tmp) / "net.snn"
        snn.save(net)
        rows += _runs(net, Path(tmp), a, "quiet")
        load = os.getloadavg()[0]
        if not a.quiet_only:
            busy = multiprocessing.Process(target=_busy, daemon=True)
            busy.start()
            try:
                rows += _runs(net, Path(tmp), a, "busy loop")
            finally:
                busy.terminate()
    print(f"digits test set, T = {a.timesteps}, batch {a.batch_size}, {cpus} CPUs "
          f"(load average {load:.1f} before the busy runs: other work on this machine)")
    print(f"{'load':<10} {'run':<24} {'threads':>8} {'sim samples/s':>14} "
          f"{'command samples/s':>18} {'same metrics':>13}")
    base = {}
    for label, name, th, sim, cmd, same in rows:
        base.setdefault(label, sim)
        print(f"{label:<10} {name:<24} {th!s:>8} {sim:14.1f} {cmd:18.1f} {same!s:>13}  "
              f"({sim / base[label]:.2f}x)")


if __name__ == "__main__":
    main()
