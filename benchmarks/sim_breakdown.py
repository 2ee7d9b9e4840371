"""Where the simulation's time goes, against the dense bound (issue 11), in one run.

Simulates the LeNet-5 of benchmarks/mnist_lenet.py (batch norm, max pooling; INIsim's
conversion options, as the README's speed figures) at T = 32, batch 50, and times every
operation of the shared window loop (sim/windows.py) per node: the synaptic products
(torch / oneDNN), the fused neuron kernels, the gate, the synaptic-operation counts.
For each product it prints the rate it reached against this CPU's float32 product rate
(snntoolbox_compare.peak_flops: the better of MKL's matrix product and oneDNN's
convolution, the peak the dense bound assumes); the last lines put the
products' time, at the rate they reach, next to the bound. The timers add a little
Python per call: the timed run is slightly slower than the untimed one, which is the
figure set against the bound; what the timed ops leave of the timed run is the loop's
own Python, the readout and simulate's bookkeeping.

With --config, the network, data, T and batch size are an snntoolbox INI config's
instead (e.g. the CNNs that benchmarks/snntoolbox_compare.py writes to
WORK_DIR/configs/), so any of its models can be broken down the same way.

Run by hand (not a test):
  ANN2SNN_DATA=/path/to/data python benchmarks/sim_breakdown.py [--busy] [--weights W]
  python benchmarks/sim_breakdown.py --config WORK_DIR/configs/cnn_bn_avg_relu.ini
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import time
from pathlib import Path

import numpy as np
import torch

import ann2snn
from ann2snn import threads as thread_policy
from ann2snn.ir import nodes as n
from ann2snn.sim import simulator, windows

HERE = Path(__file__).parent


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Timers:
    """Wraps the window loop's ops (WindowOps) and its SOP counting with per-node clocks."""

    FIELDS = ("inputs", "if_init", "if_scan", "spiking_maxpool", "apply", "fanout",
              "if_scan_counting", "if_pool")

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str], float] = collections.defaultdict(float)
        self.macs: dict[str, float] = collections.defaultdict(float)  # per product node
        self._ops, self._sops = simulator.WindowOps, windows.sop_counts

    def _wrap(self, kind: str, fn):
        if fn is None:
            return None

        def timed(*a, **kw):
            t0 = time.perf_counter()
            r = fn(*a, **kw)
            node = a[0] if a and isinstance(a[0], n.Node) else None
            self.seconds[(kind, node.name if node else "")] += time.perf_counter() - t0
            if kind == "apply" and isinstance(node, (n.Conv, n.Dense)):
                self.macs[node.name] += _macs(node, r)
            return r
        return timed

    def __enter__(self):
        ops, sops = self._ops, self._sops

        def patched(*fns):
            return ops(*[self._wrap(k, f) for k, f in zip(self.FIELDS, fns)])

        def timed_sops(*a):
            t0 = time.perf_counter()
            r = sops(*a)
            self.seconds[("sop_counts", "")] += time.perf_counter() - t0
            return r
        simulator.WindowOps, windows.sop_counts = patched, timed_sops
        return self

    def __exit__(self, *exc):
        simulator.WindowOps, windows.sop_counts = self._ops, self._sops


_WEIGHTS: dict[str, int] = {}


def _macs(node: n.Node, y: torch.Tensor) -> float:
    """Multiply-accumulates of one product call: per output element, the weights it sums."""
    per_out = _WEIGHTS[node.name] // (y.shape[1] if y.dim() > 1 else 1)
    return float(y.numel()) * per_out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir", help="folder with the MNIST IDX files (else $ANN2SNN_DATA)")
    ap.add_argument("--weights", default=None, help="reuse/save LeNet-5 weights here")
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=None, help="default 50 (or the config's)")
    ap.add_argument("--timesteps", "-T", type=int, default=None,
                    help="default 32 (or the config's)")
    ap.add_argument("--config", default=None,
                    help="an snntoolbox INI config: its model, data, T and batch size")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: the thread policy's choice under the load)")
    ap.add_argument("--busy", action="store_true",
                    help="with a busy-loop process on one of our CPUs, started here")
    args = ap.parse_args()
    lenet, kc = _module("mnist_lenet"), _module("kernels_compare")
    peak = _module("snntoolbox_compare").peak_flops()

    if args.config:
        snn, xs, T, bs = _from_config(args.config, args.samples)
        label = Path(args.config).stem
    else:
        model, train_set, test = lenet.trained(args.data_dir, args.weights)
        snn = ann2snn.convert(model, train_set.x[:1000], **kc.PRE_ISSUE14)
        xs, T, bs, label = test.x[:args.samples], 32, 50, "LeNet-5"
    T, bs = args.timesteps or T, args.batch_size or bs
    for node in snn.graph:
        if isinstance(node, (n.Conv, n.Dense)):
            _WEIGHTS[node.name] = snn.params.get(node.name, "weight").numel()

    def run() -> float:
        t0 = time.perf_counter()
        snn.simulate(xs, np.zeros(len(xs), np.int64), timesteps=T, batch_size=bs,
                     evaluate_ann=False, diagnostics=False, example_sample=None)
        return time.perf_counter() - t0

    with kc.busy_loop(args.busy):
        threads = args.threads or thread_policy.default_threads()
        torch.set_num_threads(threads)
        run()  # warm-up, the kernels' build
        walls, timed_walls, parts = [], [], []
        for _ in range(args.reps):
            walls.append(run())
            with Timers() as tm:
                timed_walls.append(run())
            parts.append(tm)
    per = 1e3 / len(xs)  # s per run -> ms per sample
    wall = float(np.median(walls)) * per
    keys = sorted({k for tm in parts for k in tm.seconds},
                  key=lambda k: -float(np.median([tm.seconds[k] for tm in parts])))
    med = {k: float(np.median([tm.seconds.get(k, 0.0) for tm in parts])) * per for k in keys}
    macs = parts[0].macs
    print(f"{label}, T = {T}, batch {bs}, {len(xs)} samples, {threads} threads, "
          f"{'busy' if args.busy else 'quiet'}; product peak {peak / 1e9:.0f} GFLOP/s")
    print(f"{'op':<18}{'node':<24}{'ms/sample':>10}{'share':>7}{'GFLOP/s':>9}{'of peak':>8}")
    total = sum(med.values())
    dense_s, bound_flop = 0.0, 0.0
    for k in keys:
        kind, name = k
        rate = ""
        if kind == "apply" and name in macs:
            flop = 2.0 * macs[name] / len(xs)  # per sample
            g = flop / (med[k] * 1e-3) / 1e9
            rate = f"{g:>9.0f}{g * 1e9 / peak:>8.0%}"
            dense_s += med[k]
            if not _is_static(snn.graph, name):  # the bound: the products on spikes only
                bound_flop += flop
        print(f"{kind:<18}{name:<24}{med[k]:>10.4f}{med[k] / total:>7.0%}{rate}")
    bound = bound_flop / peak * 1e3
    timed = float(np.median(timed_walls)) * per
    print(f"\nsimulation: {wall:.3f} ms/sample untimed, {timed:.3f} timed, of which the ops "
          f"above {total:.3f} and the rest (the loop, readout, simulate's bookkeeping) "
          f"{timed - total:.3f}")
    print(f"dense bound (products on spikes at the peak rate): {bound_flop / 1e6:.1f} MFLOP "
          f"= {bound:.3f} ms/sample; the simulation runs at {bound / wall:.2f} of its speed "
          f"(target 0.5)")
    print(f"the products alone, at the rate they reach: {dense_s:.3f} ms = "
          f"{dense_s / bound:.2f}x the bound; everything else (neurons, gate, counts, "
          f"readout, loop): {total - dense_s:.3f} ms")


def _from_config(ini: str, samples: int):
    """(SNN, test inputs, T, batch size) of an snntoolbox INI config, converted as
    `ann2snn run` converts it (its run folder goes to a temporary directory)."""
    import logging
    import tempfile

    from ann2snn.compat.snntoolbox import config_from_ini
    from ann2snn.data import load_dataset
    from ann2snn.pipeline import run_pipeline

    logging.getLogger("ann2snn").setLevel(logging.ERROR)
    cfg = config_from_ini(Path(ini))
    cfg.tools.simulate = False
    with tempfile.TemporaryDirectory() as tmp:
        cfg.output.dir = str(Path(tmp) / "run")
        snn, _, _ = run_pipeline(cfg, progress=False)
    d = cfg.data
    test = load_dataset(d.dataset, "test", data_dir=d.data_dir, standardize=d.standardize)
    return snn, test.x[:samples], cfg.simulation.timesteps, cfg.simulation.batch_size


def _is_static(graph, name: str) -> bool:
    """A product whose input is a function of the analog input only (computed once, as
    the first layer's constant current: the dense bound leaves it out)."""
    static = {x.name for x in graph if not x.inputs}
    for x in graph:
        if x.inputs and all(i in static for i in x.inputs) and not x.population:
            static.add(x.name)
    return name in static


if __name__ == "__main__":
    main()
