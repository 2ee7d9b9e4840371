"""ann2snn against SpikingJelly 2.0 and Sinabs 3.1: the same converted LeNet-5, side by side.

The network is converted once by ann2snn (batch norm folded, normalized weights, IF
neurons with threshold 1 and reset by subtraction); the same weights are then loaded
into a SpikingJelly multi-step network (layer.* with neuron.IFNode(v_reset=None),
step_mode='m') and a Sinabs network (nn layers with IAFSqueeze, SingleSpike,
MembraneSubtract), so all three simulate the same spiking network with analog input at
T steps. Max pooling: ann2snn gates spikes (SpikingMaxPool); the peers max-pool the
spikes of each step (their own semantics, the same cost class). Average pooling:
``--avg`` (ann2snn's max_to_avg_pool; the peers use nn.AvgPool2d). The tools alternate
batch by batch, in one process; ms per sample is the median over the batches.

The peers are not dependencies of ann2snn: install them in a benchmark-only environment
that sees the same torch, e.g.
    python -m venv --system-site-packages /work/peers-venv
    /work/peers-venv/bin/pip install --no-deps spikingjelly sinabs pbr loguru
    ANN2SNN_DATA=/path/to/data /work/peers-venv/bin/python benchmarks/peers_compare.py [--busy]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import ann2snn
from ann2snn.ir import nodes as n
from ann2snn.sim import kernels

HERE = Path(__file__).parent


#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def layers_of(graph, conv, linear, neuron, maxpool, avgpool, flatten) -> nn.Sequential:
    """The spiking graph (a chain) as an nn.Sequential of the given layer factories."""
    mods = []
    for node in graph:
        if isinstance(node, n.Input):
            continue
        if isinstance(node, n.Conv):
            w = torch.as_tensor(node.weight)
            m = conv(w.shape[1], w.shape[0], tuple(w.shape[2:]), node.stride, node.padding)
        elif isinstance(node, n.Dense):
            w = torch.as_tensor(node.weight)
            m = linear(w.shape[1], w.shape[0])
        elif isinstance(node, n.IF):
            assert node.threshold == 1 and not node.membrane_readout, node
            mods.append(neuron())
            continue
        elif isinstance(node, n.SpikingMaxPool):
            mods.append(maxpool(node.kernel, node.stride))
            continue
        elif isinstance(node, n.AvgPool):
            mods.append(avgpool(node.kernel, node.stride))
            continue
        elif isinstance(node, n.Flatten):
            mods.append(flatten())
            continue
        else:
            raise SystemExit(f"not a LeNet chain: {node.op}")
        with torch.no_grad():
            m.weight.copy_(w)
            m.bias.copy_(torch.as_tensor(node.bias))
        mods.append(m)
    return nn.Sequential(*mods).eval()


def spikingjelly_net(graph):
    from spikingjelly.activation_based import layer, neuron

    return layers_of(
        graph,
        lambda i, o, k, s, p: layer.Conv2d(i, o, k, s, p, step_mode="m"),
        lambda i, o: layer.Linear(i, o, step_mode="m"),
        lambda: neuron.IFNode(v_threshold=1.0, v_reset=None, step_mode="m"),
        lambda k, s: layer.MaxPool2d(k, s, step_mode="m"),
        lambda k, s: layer.AvgPool2d(k, s, step_mode="m"),
        lambda: layer.Flatten(step_mode="m"))


def sinabs_net(graph, batch: int):
    import sinabs.layers as sl
    from sinabs.activation import MembraneSubtract, SingleSpike

    return layers_of(
        graph, lambda i, o, k, s, p: nn.Conv2d(i, o, k, s, p), nn.Linear,
        lambda: sl.IAFSqueeze(batch_size=batch, spike_threshold=1.0, spike_fn=SingleSpike,
                              reset_fn=MembraneSubtract(), min_v_mem=None),
        nn.MaxPool2d, nn.AvgPool2d, nn.Flatten)


@torch.no_grad()
def run_sj(net, x, T):
    from spikingjelly.activation_based import functional

    functional.reset_net(net)
    return net(x.unsqueeze(0).expand(T, *x.shape).contiguous()).sum(0)


@torch.no_grad()
def run_sinabs(net, x, T):
    for m in net:
        if hasattr(m, "reset_states"):
            m.reset_states()
    b = x.shape[0]  # (B*T, ...), batch-major as IAFSqueeze expects
    out = net(x.unsqueeze(1).expand(b, T, *x.shape[1:]).reshape(b * T, *x.shape[1:]))
    return out.view(b, T, -1).sum(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--weights", default=None, help="LeNet-5 state_dict to reuse/save")
    ap.add_argument("--avg", action="store_true", help="average instead of max pooling")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--timesteps", "-T", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--busy", action="store_true", help="with a competing busy loop")
    args = ap.parse_args()
    lenet, kc = _load("mnist_lenet"), _load("kernels_compare")
    model, train_set, test = lenet.trained(args.data_dir, args.weights)
    snn = ann2snn.convert(model, train_set.x[:1000], max_to_avg_pool=args.avg,
                          **PRE_ISSUE14)
    T, bs = args.timesteps, args.batch_size
    xs, ys = test.x[:args.samples], test.y[:args.samples]
    sj, sn = spikingjelly_net(snn.graph), sinabs_net(snn.graph, bs)

    def a2s(kern):
        def f(x):
            os.environ[kernels.ENV] = kern
            return snn.run_batch(x, T, count_ops=False).readout
        return f

    tools = {"ann2snn": a2s("native"), "ann2snn (torch fallback)": a2s("torch"),
             "SpikingJelly 2.0": lambda x: run_sj(sj, x, T),
             "Sinabs 3.1": lambda x: run_sinabs(sn, x, T)}
    with kc.busy_loop(args.busy):
        # the thread policy chooses under the load, as it would for a user's command
        nt = ann2snn.set_threads(args.threads)
        for f in tools.values():  # warm-up
            f(torch.as_tensor(xs[:bs]))
        times = {k: [] for k in tools}
        correct = {k: 0 for k in tools}
        for i in range(0, len(xs), bs):
            x = torch.as_tensor(xs[i:i + bs])
            if len(x) < bs:
                break
            for name, f in tools.items():
                t0 = time.perf_counter()
                out = f(x)
                times[name].append((time.perf_counter() - t0) / len(x) * 1e3)
                correct[name] += int((out.argmax(-1).numpy() == ys[i:i + bs]).sum())
    pool = "average" if args.avg else "max"
    done = len(times["ann2snn"]) * bs
    print(f"LeNet-5, {pool} pooling, T = {T}, batch {bs}, {done} samples, {nt} threads, "
          f"busy loop: {args.busy}, ann2snn kernels: native {kernels.native.load() is not None}")
    base = float(np.median(times["ann2snn"]))
    print(f"{'tool':<26} {'ms/sample':>10} {'x ann2snn':>10} {'accuracy':>9}")
    for name in tools:
        ms = float(np.median(times[name]))
        print(f"{name:<26} {ms:>10.2f} {ms / base:>10.2f} {correct[name] / done * 100:>8.2f}%")
    os.environ.pop(kernels.ENV, None)


if __name__ == "__main__":
    main()
