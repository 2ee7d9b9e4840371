"""Fused kernels vs the pure-torch fallback, and the thread policy, side by side in one run.

Simulates a LeNet-5 (batch norm, max pooling; trained briefly on MNIST, or random
weights with --random) at T = 32 and prints ms per sample for every combination of
  kernels  native (sim/kernels/, compiled) | torch (ANN2SNN_KERNELS=torch)
  threads  1 | the policy's default (ann2snn.threads) | every CPU this process may use
  load     quiet | --busy: a busy-loop process on one of our CPUs, started here
alternating the combinations per repetition, with the median over --reps. It also
prints T ANN forward passes of the same batches (the dense bound) and checks that both
kernels give the same predictions.

Run by hand (not a test):
  ANN2SNN_DATA=/path/to/data python benchmarks/kernels_compare.py [--busy] [--batch-size 50]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import ann2snn
from ann2snn import threads as thread_policy
from ann2snn.sim import kernels

HERE = Path(__file__).parent


#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


def lenet_module():
    spec = importlib.util.spec_from_file_location("mnist_lenet", HERE / "mnist_lenet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def best_of(fn, reps: int) -> float:
    """Seconds of the fastest of ``reps`` calls of ``fn``, after one warm-up call."""
    fn()
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


@contextlib.contextmanager
def busy_loop(on: bool):
    """A competing process: a pure-Python busy loop pinned to our last CPU."""
    if not on:
        yield
        return
    cpu = sorted(os.sched_getaffinity(0))[-1]
    code = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    p = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.5)
    try:
        yield
    finally:
        p.terminate()
        p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir", help="folder with the MNIST IDX files (else $ANN2SNN_DATA)")
    ap.add_argument("--random", action="store_true", help="random weights, random input")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--timesteps", "-T", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--busy", action="store_true", help="also run with a competing busy loop")
    ap.add_argument("--weights", default=None, help="reuse/save LeNet-5 weights here")
    args = ap.parse_args()
    mod = lenet_module()
    if args.random:
        torch.manual_seed(0)
        model = mod.LeNet5().eval()
        x = np.random.default_rng(0).random((args.samples + 500, 1, 28, 28), dtype=np.float32)
        calib, xs = x[:500], x[500:]
    else:
        model, train_set, test = mod.trained(args.data_dir, args.weights)
        calib, xs = train_set.x[:1000], test.x[:args.samples]
    snn = ann2snn.convert(model, calib, **PRE_ISSUE14)
    cpus = thread_policy.available_cpus()
    thread_counts = sorted({1, thread_policy.default_threads(), cpus})
    T, bs = args.timesteps, args.batch_size
    print(f"LeNet-5, T = {T}, batch {bs}, {len(xs)} samples; CPUs available {cpus}, "
          f"policy default {thread_policy.default_threads()}, torch's own default "
          f"{torch.get_num_threads()}; compiled kernels: {kernels.native.load() is not None}")

    def sim(kern: str, nthreads: int) -> tuple[float, np.ndarray]:
        os.environ[kernels.ENV] = kern
        torch.set_num_threads(nthreads)
        t0 = time.perf_counter()
        res = snn.simulate(xs, np.zeros(len(xs), np.int64), timesteps=T, batch_size=bs,
                           evaluate_ann=False, diagnostics=False, example_sample=None)
        return (time.perf_counter() - t0) / len(xs) * 1e3, res.snn_predictions

    sim("native", 1)  # warm-up (and the first build)
    loads = [False, True] if args.busy else [False]
    chosen: dict[bool, tuple[int, float]] = {}  # load -> (policy's threads, ms/sample)
    for load in loads:
        with busy_loop(load):
            # what the thread policy picks under this load (sampled now, as a command would)
            pick = max(1, min(cpus, cpus - int(thread_policy.busy_cpus() + 0.5),
                              thread_policy.MAX_DEFAULT))
            if pick not in thread_counts:
                thread_counts = sorted({*thread_counts, pick})
            times: dict[tuple[str, int], list[float]] = {}
            ann: dict[int, list[float]] = {}
            preds = {}
            for _ in range(args.reps):
                for nt in thread_counts:
                    for kern in ("native", "torch"):
                        ms, preds[kern] = sim(kern, nt)
                        times.setdefault((kern, nt), []).append(ms)
                    torch.set_num_threads(nt)
                    ta = mod.time_ann(model, xs, T, bs, channels_last=True)
                    ann.setdefault(nt, []).append(ta / len(xs) * 1e3)
            same = all(np.array_equal(preds["native"], preds[k]) for k in preds)
            print(f"\n{'busy' if load else 'quiet'} (a busy loop on one CPU: {load}); "
                  f"same predictions both kernels: {same}")
            print(f"{'threads':>8} {'native ms/sample':>17} {'torch ms/sample':>16} "
                  f"{'torch/native':>13} {'32 ANN passes':>14} {'SNN/ANN':>8}")
            for nt in thread_counts:
                a = float(np.median(times[("native", nt)]))
                b = float(np.median(times[("torch", nt)]))
                d = float(np.median(ann[nt]))
                print(f"{nt:>8} {a:>17.2f} {b:>16.2f} {b / a:>13.2f} {d:>14.2f} {a / d:>8.2f}")
            chosen[load] = (pick, float(np.median(times[("native", pick)])))
            print(f"the thread policy picks {pick} under this load")
    if len(chosen) == 2:
        (tq, q), (tb, b) = chosen[False], chosen[True]
        print(f"\nsimulation at the policy's choice: quiet {q:.2f} ms/sample ({tq} threads), "
              f"busy {b:.2f} ({tb}): slowdown {b / q:.2f}x")
    os.environ.pop(kernels.ENV, None)


if __name__ == "__main__":
    main()
