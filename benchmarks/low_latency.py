"""Accuracy in 1 to 32 time steps: plain conversion against the low-latency methods.

For one network (the README's MNIST LeNet-5 by default, or a residual network of
benchmarks/resnets.py) and all test images, prints a table of SNN accuracy, spikes per
neuron and synaptic operations per sample at T = 1, 2, 4, 8, 16, 32 for:

  plain          rate conversion as before issue 14: v0 = 0, one scale per layer
  shift          the initial-potential shift only: v0 = 0.5, one scale per layer
  default        this tree's convert() defaults (v0 = 0.5, per-channel scales)
  calibration    convert(..., calibrate_timesteps=T): one conversion per T
  qcfs L=4, L=8  ann2snn.lowlatency.qcfs(model, levels=L), fine-tuned here for
                 --qcfs-epochs on the training split, then converted
  qcfs+burst     the QCFS L=4 network converted with burst=--burst spikes per step

A network that does not depend on T (all but calibration) is simulated once for the
longest T; the accuracy at each T is read from its accuracy-vs-time curve (exact: the
readout is causal, the prediction at step t sees steps <= t only), and the spikes and
synaptic operations up to each T are summed from that run's per-step counts. A method
this tree lacks is printed as "not available in this tree", never estimated.

Run by hand (not a test):
  ANN2SNN_DATA=/path/to/data python benchmarks/low_latency.py [--arch lenet|small|deep]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from resnet_defaults import load_model  # noqa: E402

import ann2snn  # noqa: E402
from ann2snn.data import load_dataset  # noqa: E402
from ann2snn.ir import nodes as n  # noqa: E402

STEPS = (1, 2, 4, 8, 16, 32)
METHODS = ("plain", "shift", "default", "calibration", "qcfs L=4", "qcfs L=8", "qcfs+burst")
NOT_AVAILABLE = "not available in this tree"


class StepSpikes:
    """A simulator probe that sums the spikes of the spiking populations per step."""

    def __init__(self, graph, timesteps: int) -> None:
        self.pops = {p.name for p in graph.of_type(n.IF) if not p.membrane_readout}
        self.per_step = np.zeros(timesteps)

    def __call__(self, name: str, kind: str, tensor: torch.Tensor, t0: int) -> None:
        if kind == "spikes" and name in self.pops:
            k = tensor.shape[0]
            self.per_step[t0:t0 + k] += tensor.reshape(k, -1).sum(1).double().cpu().numpy()


def availability() -> dict[str, str | None]:
    """None for a method this tree has, else the reason it is skipped."""
    params = inspect.signature(ann2snn.convert).parameters
    has_qcfs = importlib.util.find_spec("ann2snn.lowlatency") is not None and \
        hasattr(importlib.import_module("ann2snn.lowlatency"), "qcfs")
    return {"plain": None, "shift": None, "default": None,
            "calibration": None if "calibrate_timesteps" in params else NOT_AVAILABLE,
            "qcfs L=4": None if has_qcfs else NOT_AVAILABLE,
            "qcfs L=8": None if has_qcfs else NOT_AVAILABLE,
            "qcfs+burst": None if has_qcfs and "burst" in params else NOT_AVAILABLE}


def measure(snn, test, timesteps: int, batch_size: int) -> dict:
    """One run for ``timesteps``: per T of STEPS up to it, accuracy, spikes per neuron
    and synaptic operations per sample."""
    probe = StepSpikes(snn.graph, timesteps)
    res = snn.simulate(test, timesteps=timesteps, batch_size=batch_size, diagnostics=False,
                       example_sample=None, probe=probe)
    acc = res.snn_accuracy_per_step
    sops = np.cumsum(sum(np.asarray(v, np.float64) for v in res.sops_per_step.values()))
    neurons = sum(res.neurons.values())
    spikes = np.cumsum(probe.per_step)
    assert np.isclose(spikes[-1], sum(res.spike_counts.values()), rtol=1e-6), \
        "the probe's spikes differ from the simulator's counts"
    return {"ann": res.ann_accuracy, "per_T": {
        t: {"acc": float(acc[t - 1]),
            "spikes_per_neuron": float(spikes[t - 1] / (neurons * res.num_samples)),
            "sops_per_sample": float(sops[t - 1] / res.num_samples)}
        for t in STEPS if t <= timesteps}}


def finetune_qcfs(model: nn.Module, levels: int, train_set, epochs: int, seed: int = 0):
    """QCFS activations (ann2snn.lowlatency.qcfs) fine-tuned with Adam on the training
    split; returns the model and the seconds per epoch."""
    from ann2snn.lowlatency import qcfs

    torch.manual_seed(seed)
    q = qcfs(model, levels=levels)
    opt = torch.optim.Adam(q.parameters(), lr=1e-3)
    xt, yt = torch.as_tensor(train_set.x), torch.as_tensor(train_set.y)
    t0 = time.perf_counter()
    for _ in range(epochs):
        q.train()
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(q(xt[idx]), yt[idx]).backward()
            opt.step()
    return q.eval(), (time.perf_counter() - t0) / max(epochs, 1)


def run_method(method, model, calib, train_set, test, args, cache) -> dict:
    T = max(STEPS)
    if method in ("plain", "shift"):
        v0 = 0.0 if method == "plain" else 0.5
        return measure(ann2snn.convert(model, calib, v0=v0, per_channel=False), test, T,
                       args.batch_size)
    if method == "default":
        return measure(ann2snn.convert(model, calib), test, T, args.batch_size)
    if method == "calibration":  # the conversion depends on T: one per T
        out = {"per_T": {}}
        for t in STEPS:
            r = measure(ann2snn.convert(model, calib, calibrate_timesteps=t), test, t,
                        args.batch_size)
            out["ann"] = r["ann"]
            out["per_T"][t] = r["per_T"][t]
        return out
    levels = 8 if method == "qcfs L=8" else 4
    if levels not in cache:
        cache[levels] = finetune_qcfs(model, levels, train_set, args.qcfs_epochs)
    q, per_epoch = cache[levels]
    kw = {"burst": args.burst} if method == "qcfs+burst" else {}
    r = measure(ann2snn.convert(q, calib, **kw), test, T, args.batch_size)
    r["finetune_s_per_epoch"] = per_epoch
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["lenet", "small", "deep"], default="lenet")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"comma-separated, from: {', '.join(METHODS)}")
    ap.add_argument("--num-samples", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--qcfs-epochs", type=int, default=2)
    ap.add_argument("--burst", type=int, default=2, help="spikes per step for qcfs+burst")
    ap.add_argument("--weights-dir", default="benchmark_weights",
                    help="where trained networks are cached (default ./benchmark_weights)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--data-dir", help="folder with the MNIST IDX files (else $ANN2SNN_DATA)")
    args = ap.parse_args()
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    train_set = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir).subset(args.num_samples)
    model = load_model(args.arch, Path(args.weights_dir), train_set)
    calib = train_set.x[np.random.default_rng(0).choice(len(train_set), 1000, replace=False)]
    avail = availability()
    print(f"{args.arch}, {len(test)} MNIST test images, {torch.get_num_threads()} threads")
    head = " ".join(f"{'T=' + str(t):>8}" for t in STEPS)
    print(f"{'method':<12} {'quantity':<18} {'ANN':>7} {head}")
    results, cache = {}, {}
    for m in methods:
        if avail[m] is not None:
            print(f"{m:<12} {avail[m]}")
            results[m] = avail[m]
            continue
        t0 = time.perf_counter()
        r = run_method(m, model, calib, train_set, test, args, cache)
        results[m] = r
        per = r["per_T"]
        for key, label, fmt in (("acc", "accuracy %", "{:8.2f}"),
                                ("spikes_per_neuron", "spikes/neuron", "{:8.3f}"),
                                ("sops_per_sample", "SOPs/sample", "{:8.3g}")):
            vals = " ".join(fmt.format(per[t][key] * (100 if key == "acc" else 1))
                            for t in STEPS)
            ann = f"{r['ann'] * 100:7.2f}" if key == "acc" else " " * 7
            print(f"{m if key == 'acc' else '':<12} {label:<18} {ann} {vals}")
        extra = (f"; fine-tuning {r['finetune_s_per_epoch']:.0f} s/epoch"
                 if "finetune_s_per_epoch" in r else "")
        print(f"{'':<12} ({time.perf_counter() - t0:.0f} s{extra})", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"arch": args.arch, "results": results},
                                              indent=1))


if __name__ == "__main__":
    main()
