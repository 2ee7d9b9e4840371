"""Benchmark: time per sample of every installed backend that runs networks, beside the
built-in simulator, on the same network, in one run.

The backends come from the registry (``ann2snn.backends.BACKENDS``, those that can
run), so a newly registered backend appears here by itself; one whose package is not
installed, or that does not take the network, is listed with the reason and skipped.
Each backend runs at a synaptic delay it supports, and the built-in simulator is timed
at each of those delays, so every ratio compares the same semantics. Rounds alternate
the order of the backends; the table gives the median seconds per sample and the ratio
to the built-in simulator at the same delay. ``--busy`` repeats the rounds with a
competing busy-loop process (after the quiet ones, same network, same samples).

Run by hand (not a test):
    python benchmarks/backends.py                          # bundled digits, a small CNN
    python benchmarks/backends.py --snn net.snn --dataset mnist --num-samples 20 --busy
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import time

import numpy as np
import torch
from torch import nn

import ann2snn
from ann2snn.backends import BACKENDS, DEFAULT, Arithmetic, simulate
from ann2snn.data import load_dataset
from ann2snn.errors import Ann2SnnError
from ann2snn.quantize import quantize
from ann2snn.quantize.targets import TARGETS

#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


def small_cnn() -> nn.Module:
    """An untrained CNN for the 8x8 digits (average pooling: every backend takes it)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(64, 10))


def _busy() -> None:
    while True:
        pass


def candidates(graph) -> tuple[list[tuple[str, int]], list[tuple[str, str]]]:
    """(backend, delay) pairs to time, and (backend, why not) for the skipped ones. A
    backend that runs integer mode only and names a quantization target (Loihi) runs
    the network quantized for it: the job's backend is then "NAME" and the built-in
    simulator's job on that network is "ann2snn@NAME"."""
    runs, skipped = [], []
    for name in BACKENDS.names("run"):
        if name == DEFAULT:
            continue
        try:
            b = BACKENDS.get(name, "run")
            b.require()
            sup = b.supports.get(next(iter(b.supports)))
            delays = sorted(int(d) for d in sup.synaptic_delay)
            g = QUANTIZED[name].graph if name in QUANTIZED else graph
            b.check(g, synaptic_delay=delays[0])
        except Ann2SnnError as e:
            skipped.append((name, str(e).splitlines()[0]))
            continue
        runs.append((name, delays[0]))
        if name in QUANTIZED:
            runs.append((f"{DEFAULT}@{name}", delays[0]))
    return runs, skipped


#: backend -> the network quantized for it (integer-only backends with a target)
QUANTIZED: dict = {}


def prepare_targets(snn, calibration) -> None:
    """Quantize ``snn`` for every registered backend that runs integer mode only and
    has a quantization target of its name (quantize/targets.py)."""
    for name in BACKENDS.names("run"):
        b = BACKENDS.get(name, "run")
        if Arithmetic.FLOAT not in b.supports and name in TARGETS:
            QUANTIZED[name] = quantize(snn, calibration=calibration, target=name)


def time_one(snn, x, y, backend: str, delay: int, timesteps: int) -> float:
    """Seconds per sample of one run (no ANN, no diagnostics, no example trace)."""
    backend, _, target = backend.partition("@")
    target = target or backend
    snn = QUANTIZED.get(target, snn)
    t0 = time.perf_counter()
    simulate(snn, x, backend, labels=y, timesteps=timesteps, synaptic_delay=delay,
             evaluate_ann=False, diagnostics=False, example_sample=None)
    return (time.perf_counter() - t0) / len(x)


def rounds(snn, x, y, jobs, timesteps: int, n: int, label: str) -> dict:
    times: dict[tuple[str, int], list[float]] = {j: [] for j in jobs}
    for r in range(n):
        for job in (jobs if r % 2 == 0 else jobs[::-1]):
            times[job].append(time_one(snn, x, y, *job, timesteps))
        print(f"{label} round {r}: " + ", ".join(
            f"{b}(d={d}) {times[(b, d)][-1] * 1e3:.1f} ms" for b, d in jobs), flush=True)
    return {j: statistics.median(v) for j, v in times.items()}


def table(med: dict, label: str) -> None:
    print(f"\n{label}: median seconds per sample (ratio to the built-in simulator at the "
          "same synaptic delay)")
    print(f"{'backend':<14} {'delay':>5} {'ms/sample':>10} {'ratio':>8}")
    for (b, d), s in med.items():
        base = f"{DEFAULT}@{b}" if b in QUANTIZED else b if "@" in b else DEFAULT
        ref = med.get((base, d))
        ratio = f"{s / ref:8.1f}" if ref else "       -"
        print(f"{b:<14} {d:>5} {s * 1e3:>10.2f} {ratio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snn", help="a converted network (default: a small CNN on digits)")
    ap.add_argument("--dataset", default="digits", help="test data (default digits)")
    ap.add_argument("--data-dir", help="where to look for the data set first")
    ap.add_argument("--num-samples", type=int, default=16, help="samples per run (default 16)")
    ap.add_argument("--timesteps", "-T", type=int, default=32, help="default 32")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per phase (default 3)")
    ap.add_argument("--busy", action="store_true",
                    help="after the quiet rounds, the same with a competing busy-loop process")
    args = ap.parse_args()
    test = load_dataset(args.dataset, "test", data_dir=args.data_dir)
    x, y = test.x[:args.num_samples], test.y[:args.num_samples]
    if args.snn:
        snn = ann2snn.load(args.snn)
    else:
        train = load_dataset(args.dataset, "train", data_dir=args.data_dir)
        snn = ann2snn.convert(small_cnn(), train.x[:500], **PRE_ISSUE14)
    prepare_targets(snn, test.x[:200] if args.snn else train.x[:500])
    runs, skipped = candidates(snn.graph)
    for name, why in skipped:
        print(f"skipped {name}: {why}")
    delays = sorted({d for b, d in runs if b not in QUANTIZED} | {0})
    jobs = [(DEFAULT, d) for d in delays] + runs
    print(f"{len(x)} samples of {args.dataset}, T = {args.timesteps}, {args.rounds} rounds; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.get_num_threads()} threads")
    for job in jobs:  # warm-up: code generation, caches
        time_one(snn, x[:2], y[:2], *job, args.timesteps)
    quiet = rounds(snn, x, y, jobs, args.timesteps, args.rounds, "quiet")
    table(quiet, "quiet")
    if args.busy:
        busy = mp.Process(target=_busy, daemon=True)
        busy.start()
        try:
            loaded = rounds(snn, x, y, jobs, args.timesteps, args.rounds, "busy")
        finally:
            busy.terminate()
        table(loaded, "with a busy-loop process")
    print(f"\nload average {os.getloadavg()[0]:.1f}; numpy {np.__version__}")


if __name__ == "__main__":
    main()
