"""Before/after speed check of a change: the same simulations, two source trees, one run.

For a refactoring that must not slow the simulator down. Each measurement is a fresh
child process that imports ann2snn from one source tree (PYTHONPATH), converts the same
trained weights and times ``snn.simulate``; the two trees alternate, round after round,
so that both see the same machine load. Reports per workload the median time of each
tree and the median of the per-round ratios (after / before).

Workloads (the simulation parts of benchmarks/mnist_lenet.py and
benchmarks/snntoolbox_compare.py, on MNIST):
  lenet        LeNet-5 (batch norm, max pooling) at T = 32, batch 500 (mnist_lenet.py)
  cnn_bn_avg   snntoolbox_compare's CNN with batch norm and average pooling, T = 100,
  cnn_max      and its CNN with max pooling (softmax output: membrane readout),
               batch 100, as `ann2snn run config.ini` simulates them; timed twice: the
               simulation alone, and with the ANN evaluation and diagnostics
               (the per-sample pipeline work)

The weights are trained once in this process (a few epochs, cached in --work-dir).

    git worktree add /tmp/before <rev>
    ANN2SNN_DATA=/path/to/data python benchmarks/ab_compare.py --before /tmp/before/src
    ... --busy      # the same with a competing busy-loop process on the machine
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORKLOADS = {"lenet": (32, 500), "cnn_bn_avg": (100, 100), "cnn_max": (100, 100)}


#: The conversion options of the README's figures (the defaults before issue 14, which
#: made v0 = 0.5 and per-channel scales the default; docs/low-latency.md).
PRE_ISSUE14 = dict(v0=0.0, per_channel=False)


def build(name: str):
    from torch import nn

    if name == "lenet":
        sys.path.insert(0, str(HERE))
        from mnist_lenet import LeNet5

        return LeNet5()
    if name == "cnn_bn_avg":
        return nn.Sequential(
            nn.Conv2d(1, 16, 5, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(16, 32, 3, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(800, 10))
    if name == "cnn_max":
        return nn.Sequential(
            nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(800, 64), nn.ReLU(), nn.Linear(64, 10),
            nn.Softmax(-1))
    raise SystemExit(f"unknown workload {name}")


def train(name: str, x, y, epochs: int):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = build(name)
    body = model[:-1] if name == "cnn_max" else model  # train on logits
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(body(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def child(args) -> None:
    """Runs in a fresh process with one source tree on PYTHONPATH."""
    import torch

    import ann2snn
    from ann2snn.data import load_dataset

    torch.set_num_threads(args.threads)
    work = Path(args.work_dir)
    calib = np.load(work / "calib.npy")
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    x, y = test.x[:args.num_samples], test.y[:args.num_samples]
    model = build(args.workload)
    model.load_state_dict(torch.load(work / f"{args.workload}.pth", weights_only=True))
    model.eval()
    snn = ann2snn.convert(model, calib, **PRE_ISSUE14)
    t, b = WORKLOADS[args.workload]
    snn.simulate(x[:b], y[:b], timesteps=4, batch_size=b, diagnostics=False,
                 evaluate_ann=False, example_sample=None)  # warm-up
    out = {"version": ann2snn.__file__}
    t0 = time.perf_counter()
    r = snn.simulate(x, y, timesteps=t, batch_size=b, diagnostics=False, evaluate_ann=False,
                     example_sample=None)
    out["sim_s"] = time.perf_counter() - t0
    out["accuracy"] = r.snn_accuracy
    if args.workload != "lenet":
        r = snn.simulate(x, y, timesteps=t, batch_size=b)
        w = r.wall_time_s
        out["work_s"] = w["snn"] + w.get("ann", 0.0) + w.get("diagnostics", 0.0)
        out["accuracy_full"] = r.snn_accuracy
    print(json.dumps(out))


def _busy() -> None:
    while True:
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="the 'before' tree's src/ folder")
    p.add_argument("--after", default=str(HERE.parent / "src"),
                   help="the 'after' tree's src/ folder (default: this checkout)")
    p.add_argument("--data-dir", help="MNIST IDX folder (else $ANN2SNN_DATA)")
    p.add_argument("--work-dir", default="ab_compare_work", help="weights cache")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--num-samples", type=int, default=2000, help="test images (default 2000)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--busy", action="store_true",
                   help="run a competing busy-loop process during the measurements")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    names = args.workloads.split(",")
    if not (work / "calib.npy").is_file() or not all(
            (work / f"{n}.pth").is_file() for n in names):
        import torch

        sys.path.insert(0, args.after)
        from ann2snn.data import load_dataset

        tr = load_dataset("mnist", "train", data_dir=args.data_dir)
        rng = np.random.default_rng(0)
        np.save(work / "calib.npy", tr.x[rng.choice(len(tr), 1000, replace=False)])
        for name in names:
            if not (work / f"{name}.pth").is_file():
                print(f"training {name} ({args.epochs} epochs) ...", flush=True)
                torch.save(train(name, tr.x, tr.y, args.epochs).state_dict(),
                           work / f"{name}.pth")
    busy = None
    if args.busy:
        busy = mp.Process(target=_busy, daemon=True)
        busy.start()
    trees = {"before": str(Path(args.before).resolve()), "after": str(Path(args.after).resolve())}
    rows: dict[str, list[dict]] = {}
    try:
        for rnd in range(args.rounds):
            for name in names:
                order = ("before", "after") if rnd % 2 == 0 else ("after", "before")
                got = {}
                for tree in order:
                    env = dict(os.environ, PYTHONPATH=trees[tree])
                    cmd = [sys.executable, __file__, "--before", args.before, "--child", tree,
                           "--workload", name, "--work-dir", str(work), "--num-samples",
                           str(args.num_samples), "--threads", str(args.threads)]
                    if args.data_dir:
                        cmd += ["--data-dir", args.data_dir]
                    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
                    if r.returncode:
                        sys.exit(f"{tree} {name} failed:\n{r.stderr[-3000:]}")
                    got[tree] = json.loads(r.stdout.strip().splitlines()[-1])
                    if not got[tree]["version"].startswith(trees[tree]):
                        sys.exit(f"{tree} imported ann2snn from {got[tree]['version']}")
                rows.setdefault(name, []).append(got)
                print(f"round {rnd} {name}: " + ", ".join(
                    f"{k} {v['sim_s']:.2f} s" for k, v in got.items()), flush=True)
    finally:
        if busy is not None:
            busy.terminate()
    load = os.getloadavg()[0]
    print(f"\n{args.num_samples} MNIST test images, {args.threads} threads, "
          f"{'with' if args.busy else 'without'} a competing busy loop, load average "
          f"{load:.1f}")
    print("| workload | part | before s | after s | after/before (median of rounds) |"
          " same accuracy |")
    print("|---|---|---|---|---|---|")
    for name, rs in rows.items():
        for key, label in (("sim_s", "simulation"), ("work_s", "+ ANN and diagnostics")):
            if key not in rs[0]["before"]:
                continue
            b = [r["before"][key] for r in rs]
            a = [r["after"][key] for r in rs]
            ratio = float(np.median([x / y for x, y in zip(a, b)]))
            same = all(r["before"]["accuracy"] == r["after"]["accuracy"] for r in rs)
            print(f"| {name} | {label} | {np.median(b):.2f} | {np.median(a):.2f} | "
                  f"{ratio:.3f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
