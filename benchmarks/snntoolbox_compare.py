"""Side by side: the SNN Toolbox's INIsim (snntoolbox 0.6.0) and ann2snn on the same
Keras models, SNN Toolbox config files and data.

What it does, in WORK_DIR (kept, so later runs reuse models and INIsim results):
  1. reads MNIST (IDX .gz files in --data-dir) and writes the SNN Toolbox npz data set
     WORK_DIR/data/{x_test,y_test,x_norm}.npz (channels-last x in [0, 1], one-hot y,
     arrays stored positionally as arr_0), and WORK_DIR/train.npz for training;
  2. in the snntoolbox virtual environment (--stbx-python), builds and briefly trains
     small tf.keras 2.15 models (benchmarks/snntoolbox_driver.py) and saves them as .h5:
       mlp_relu, mlp_softmax     Flatten-Dense(256)-Dense(10), same weights, ReLU / softmax out
       cnn_bn_avg_relu           2x [Conv2D (no bias)-BatchNorm-ReLU-AveragePooling2D]-Dense
       cnn_max_relu, cnn_max_softmax  2x [Conv2D-ReLU-MaxPooling2D]-Dense(64)-Dense(10)
       lenet_bn_max_relu         LeNet-5: 2x [Conv2D (6, 16)-BatchNorm-ReLU-MaxPooling2D]-
                                 Dense(120)-Dense(84)-Dense(10), as in snntoolbox's examples
  3. writes one SNN Toolbox INI config per model (WORK_DIR/configs/<model>.ini);
  4. runs snntoolbox itself on it (update_setup + run_pipeline, as `snntoolbox -t`),
     recording the per-sample output spike counts and the time after each batch;
  5. runs `ann2snn run <model>.ini` on the SAME config file (a subprocess of this
     Python), then times ann2snn at a small and at the full number of samples;
  6. prints, per model: the accuracies, per-sample agreement of the predicted classes
     and of the output spike counts, and the marginal cost per sample of each tool.
With --busy, steps 4-6 run again with a competing process (a busy loop on one of our
CPUs, started here), and the wall time of the whole `ann2snn run` under load is set
against the quiet one (issue: within 1.5x).

Marginal cost per sample = (time at N samples - time at n samples) / (N - n), for the
whole pipeline and for the simulation loop alone. INIsim's comes from timestamps taken in
one run (around each batch's SNN.simulate call; n = its first batch, which also traces
the TensorFlow graph), ann2snn's from runs of `run_pipeline` at n and at N samples
(fastest of --repeats; SimulationResult's wall times: "snn" for the simulation, plus "ann"
and "diagnostics" for the pipeline, leaving out the fixed costs of loading, converting
and plotting). Both use the config's batch_size and this machine's CPU; other load on
the machine adds noise.

Setup of the snntoolbox environment (once):
  python -m venv /work/stbx-venv
  /work/stbx-venv/bin/pip install tensorflow-cpu==2.15.1 numpy==1.23.5 "matplotlib<3.9"
  /work/stbx-venv/bin/pip install --no-deps snntoolbox==0.6.0

Run by hand (not part of the tests), e.g.:
  python benchmarks/snntoolbox_compare.py --data-dir /work/shared/data/mnist \\
      --stbx-python /work/stbx-venv/bin/python --num-test 500 --duration 100
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ARCHS = {"mlp": ("mlp_relu", "mlp_softmax"), "cnn_bn_avg": ("cnn_bn_avg_relu",),
         "cnn_max": ("cnn_max_relu", "cnn_max_softmax"), "lenet_bn_max": ("lenet_bn_max_relu",)}


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def one_hot(y: np.ndarray) -> np.ndarray:
    return np.eye(10, dtype=np.float32)[y]


def prepare_data(args, work: Path) -> None:
    d = Path(args.data_dir)
    xtr = read_idx(d / "train-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255
    ytr = read_idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64)
    xte = read_idx(d / "t10k-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255
    yte = read_idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    if not (work / "train.npz").is_file():
        np.savez(work / "train.npz", x_train=xtr, y_train=one_hot(ytr), x_test=xte,
                 y_test=one_hot(yte))
    data = work / "data"
    data.mkdir(exist_ok=True)
    # the SNN Toolbox layout: positional arrays (arr_0), channels-last x, one-hot y
    np.savez_compressed(data / "x_test.npz", xte)
    np.savez_compressed(data / "y_test.npz", one_hot(yte))
    step = len(xtr) // args.num_norm
    np.savez_compressed(data / "x_norm.npz", xtr[::step][:args.num_norm])


def train_models(args, work: Path) -> dict:
    models = work / "models"
    models.mkdir(exist_ok=True)
    report = {}
    for arch, names in ARCHS.items():
        if all((models / f"{n}.h5").is_file() for n in names) and not args.retrain:
            continue
        print(f"training {arch} in the snntoolbox environment ...", flush=True)
        out = subprocess.run([args.stbx_python, str(HERE / "snntoolbox_driver.py"), "train",
                              "--arch", arch, "--train", str(work / "train.npz"),
                              "--out-dir", str(models), "--epochs", str(args.epochs)],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"training {arch} failed:\n{out.stderr[-3000:]}")
        report.update(json.loads(out.stdout.strip().splitlines()[-1]))
    return report


INI = """\
[paths]
path_wd = {path_wd}
dataset_path = {dataset_path}
filename_ann = {name}
runlabel = {name}

[tools]
evaluate_ann = True
normalize = True

[input]
model_lib = keras
dataset_format = npz

[normalization]
percentile = {percentile}

[conversion]
softmax_to_relu = False
max2avg_pool = False
spike_code = temporal_mean_rate

[simulation]
simulator = INI
duration = {duration}
dt = 1
batch_size = {batch_size}
num_to_test = {num_test}
keras_backend = tensorflow

[cell]
v_thresh = 1
tau_refrac = 0
reset = Reset by subtraction

[output]
plot_vars = {{}}
log_vars = {{}}
"""


def write_config(args, work: Path, name: str) -> Path:
    cfg_dir = work / "configs"
    cfg_dir.mkdir(exist_ok=True)
    path = cfg_dir / f"{name}.ini"
    path.write_text(INI.format(path_wd=work / "models", dataset_path=work / "data", name=name,
                               percentile=args.percentile, duration=args.duration,
                               batch_size=args.batch_size, num_test=args.num_test))
    return path


def run_inisim(args, work: Path, name: str, ini: Path, busy: bool = False) -> dict:
    tag = f"{name}_N{args.num_test}_T{args.duration}_B{args.batch_size}" + \
        ("_busy" if busy else "")
    out = work / "inisim" / f"{tag}.npz"
    out.parent.mkdir(exist_ok=True)
    if not out.is_file() or args.rerun_inisim:
        print(f"  INIsim on {args.num_test} samples (slow) ...", flush=True)
        with open(work / "inisim" / f"{tag}.log", "w") as logf:
            r = subprocess.run([args.stbx_python, str(HERE / "snntoolbox_driver.py"), "run",
                                "--config", str(ini), "--out", str(out), "--log-dir",
                                str(work / "inisim" / f"{tag}_log")],
                               stdout=logf, stderr=subprocess.STDOUT)
        if r.returncode:
            sys.exit(f"snntoolbox failed on {name}; see {logf.name}")
    d = np.load(out)
    return {k: d[k] for k in d.files}


def run_ann2snn(ini: Path) -> dict:
    """`ann2snn run config.ini` as a user would type it; reads the run folder it writes.
    "wall_s": the command's wall time, start-up and everything included."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "ann2snn", "run", str(ini), "--quiet"],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"ann2snn run {ini} failed:\n{r.stderr[-3000:]}")
    from ann2snn.compat.snntoolbox import config_from_ini

    out = Path(config_from_ini(ini).output.dir)
    p = np.load(out / "predictions.npz")
    m = json.loads((out / "metrics.json").read_text())
    return {"readout": p["snn_readout"], "prediction": p["snn_prediction"],
            "labels": p["labels"], "ann_prediction": p["ann_prediction"], "metrics": m,
            "wall_s": wall}


def time_ann2snn(ini: Path, n: int, repeats: int) -> tuple[float, float, float]:
    """Fastest of ``repeats`` runs at n samples, in s: (whole pipeline, SNN simulation,
    per-sample pipeline work).

    The whole pipeline is everything `ann2snn run` does (load, convert, ANN evaluation,
    simulation, diagnostics, plots, report); the simulation is SimulationResult's "snn"
    wall time; the per-sample work adds the ANN evaluation and the diagnostics to it (the
    parts that grow with the number of samples, without the fixed costs whose noise on a
    shared machine would swamp the difference).
    """
    import logging

    from ann2snn.compat.snntoolbox import config_from_ini
    from ann2snn.pipeline import run_pipeline

    logging.getLogger("ann2snn").setLevel(logging.ERROR)
    cfg = config_from_ini(ini)
    cfg.data.num_samples = n
    cfg.output.dir = str(Path(cfg.output.dir) / f"timing_{n}")
    whole, sim, work = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, result, _ = run_pipeline(cfg, progress=False)
        whole.append(time.perf_counter() - t0)
        w = result.wall_time_s
        sim.append(w["snn"])
        work.append(w["snn"] + w.get("ann", 0.0) + w.get("diagnostics", 0.0))
    return min(whole), min(sim), min(work)


def compare(args, work: Path, name: str, busy: bool = False) -> dict:
    ini = write_config(args, work, name)
    print(f"{name}{' (busy)' if busy else ''}:", flush=True)
    load = [os.getloadavg()[0]]
    ref = run_inisim(args, work, name, ini, busy)
    load.append(os.getloadavg()[0])
    n = len(ref["truth"])
    labels = ref["truth"]
    counts_i = ref["counts"]
    pred_i = np.where(counts_i.sum(1) > 0, counts_i.argmax(1), -1)
    if args.inisim_only:
        print(f"  INIsim accuracy {(pred_i == labels).mean():.2%} on {n} samples (Keras "
              f"{(ref['ann_prediction'] == labels).mean():.2%}); {float(ref['total']):.1f} s")
        return {}
    ours = run_ann2snn(ini)
    walls = [ours["wall_s"]] + [run_ann2snn(ini)["wall_s"]
                                for _ in range(args.run_repeats - 1)]
    if not np.array_equal(ours["labels"][:n], labels):
        sys.exit("the two tools tested different samples")
    pred_a = ours["prediction"][:n].astype(np.int64)
    membrane = ours["metrics"].get("readout") == "membrane"
    res = {
        "samples": n, "duration": args.duration, "batch_size": args.batch_size,
        "ann_accuracy_keras": float((ref["ann_prediction"] == labels).mean()),
        "ann_accuracy_ann2snn": float((ours["ann_prediction"][:n] == labels).mean()),
        "inisim_accuracy": float((pred_i == labels).mean()),
        "inisim_reported_accuracy": float(ref["accuracy"]),
        "ann2snn_accuracy": float((pred_a == labels).mean()),
        "prediction_agreement": float((pred_i == pred_a).mean()),
        "readout": "membrane" if membrane else "spike_count",
        "ann2snn_run_wall_s": float(np.median(walls)), "ann2snn_run_walls_s": walls,
        "busy": busy,
    }
    if not membrane:
        counts_a = ours["readout"][:n]
        res["count_exact_agreement"] = float(np.all(counts_a == counts_i, axis=1).mean())
        res["count_mean_abs_diff"] = float(np.abs(counts_a - counts_i).mean())
    # INIsim: after its first batch (graph tracing, warm-up), per extra sample
    ends, starts, b = ref["batch_end"], ref["batch_start"], args.batch_size
    nan = float("nan")
    res["inisim_pipeline_marginal_s"] = float(ends[-1] - ends[0]) / (n - b) if n > b else nan
    res["inisim_sim_marginal_s"] = (float(np.sum(ends[1:] - starts[1:])) / (n - b) if n > b
                                    else nan)
    # ann2snn: runs of the pipeline at a small and at the full sample count
    small = max(b, args.small_n // b * b)
    time_ann2snn(ini, small, 1)  # warm-up (in-process caches, first-call costs)
    w_small, s_small, p_small = time_ann2snn(ini, small, args.repeats)
    w_big, s_big, p_big = time_ann2snn(ini, n, args.repeats)
    res["ann2snn_times_s"] = {"whole_pipeline": {str(small): w_small, str(n): w_big},
                              "simulation": {str(small): s_small, str(n): s_big},
                              "per_sample_work": {str(small): p_small, str(n): p_big}}
    load.append(os.getloadavg()[0])
    res["load_average_1min"] = load  # before/after INIsim, after ann2snn: other load skews
    d = n - small if n > small else nan
    res["ann2snn_whole_pipeline_marginal_s"] = (w_big - w_small) / d
    res["ann2snn_pipeline_marginal_s"] = (p_big - p_small) / d
    res["ann2snn_sim_marginal_s"] = (s_big - s_small) / d
    res["speedup_sim"] = res["inisim_sim_marginal_s"] / res["ann2snn_sim_marginal_s"]
    res["speedup_pipeline"] = (res["inisim_pipeline_marginal_s"]
                               / res["ann2snn_pipeline_marginal_s"])
    res.update(cost_floor(ours["metrics"], res["inisim_sim_marginal_s"], args.peak_flops))
    res["peak_gflops"] = args.peak_flops / 1e9
    return res


def _kernels_compare():
    """benchmarks/kernels_compare.py as a module (its busy loop)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kernels_compare",
                                                  HERE / "kernels_compare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def product_rates() -> dict[str, float]:
    """FLOP/s of a large float32 matrix product (MKL) and of a large channels-last
    convolution (oneDNN), best of 5 each, at the current torch threads."""
    import torch

    best = _kernels_compare().best_of
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    gemm = 2 * 2048 ** 3 / best(lambda: a @ b, 5)
    x = torch.randn(32, 256, 32, 32).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3)
    with torch.no_grad():
        conv = 2 * 32 * 32 * 32 * 256 * 256 * 9 / best(
            lambda: torch.nn.functional.conv2d(x, w, padding=1), 5)
    return {"MKL matrix product": gemm, "oneDNN convolution": conv}


def peak_flops(rates: dict[str, float] | None = None) -> float:
    """This CPU's float32 product rate (FLOP/s): the better of product_rates(), an upper
    bound on what any dense simulator's arithmetic reaches here. Both count, because the
    libraries differ by CPU: on the AMD EPYC this was developed on, MKL's sgemm reached
    150-190 GFLOP/s on two threads while oneDNN's convolution reached 440 (AVX-512), and
    the simulator's own few-channel convolutions 230-270, above the matrix product's
    rate, which therefore is no bound."""
    return max((rates or product_rates()).values())


def cost_floor(metrics: dict, inisim_s: float, flops: float) -> dict:
    """Lower bounds on the simulation cost per sample, from the run's operation counts.

    dense: every step multiplies the spiking layers' inputs by their weights (the ANN's
    MACs less the first layer's, whose analog input is constant): 2·MACs·T FLOPs.
    events: an ideal event-driven simulator adds one weight per synaptic event: SOPs
    FLOPs. Both at the CPU's product rate (peak_flops), ignoring the neuron updates and memory
    traffic, so real code is slower; the ratios are the most any such simulator could
    gain over INIsim on this CPU.
    """
    t = metrics["timesteps"]
    dense = 2.0 * (metrics["ann_macs_per_sample"] - metrics["first_layer_macs_per_sample"]) * t
    events = float(metrics["synaptic_ops_per_sample"])
    return {"dense_flops_per_sample": dense, "event_flops_per_sample": events,
            "dense_floor_s": dense / flops, "event_floor_s": events / flops,
            "max_speedup_dense": inisim_s * flops / max(dense, 1.0),
            "max_speedup_events": inisim_s * flops / max(events, 1.0)}


def _table(title: str, head: str, rows: list[str]) -> None:
    print(title)
    print(head)
    print("-" * len(head))
    for row in rows:
        print(row)


def _accuracy_row(name: str, r: dict) -> str:
    counts = f"{r['count_exact_agreement']:.1%}" if "count_exact_agreement" in r else "memb."
    return (f"{name:<17}{r['samples']:>6}{r['duration']:>5}{r['ann_accuracy_keras']:>8.2%}"
            f"{r['inisim_accuracy']:>8.2%}{r['ann2snn_accuracy']:>8.2%}"
            f"{(r['ann2snn_accuracy'] - r['inisim_accuracy']) * 100:>+8.2f}"
            f"{r['prediction_agreement']:>8.1%}{counts:>9}")


def report(results: dict) -> None:
    _table("\naccuracy on the same test samples (pp = percentage points); agree = same "
           "predicted class;\ncounts= : identical output spike-count vectors (memb.: ann2snn "
           "reads a softmax output from the membrane)",
           f"{'model':<17}{'N':>6}{'T':>5}{'ANN':>8}{'INIsim':>8}{'ann2snn':>8}"
           f"{'diff pp':>8}{'agree':>8}{'counts=':>9}",
           [_accuracy_row(name, r) for name, r in results.items()])
    _table("\nmarginal cost per sample, ms (batch size from the config; sim = the time-step "
           "loop only; pipe = INIsim:\neverything per extra batch, ann2snn: ANN evaluation + "
           "simulation + diagnostics)",
           f"{'model':<17}{'INIsim sim':>11}{'ann2snn sim':>12}{'speedup':>9}"
           f"{'INIsim pipe':>12}{'ann2snn pipe':>13}{'speedup':>9}",
           [f"{name:<17}{r['inisim_sim_marginal_s'] * 1e3:>11.3g}"
            f"{r['ann2snn_sim_marginal_s'] * 1e3:>12.3g}{r['speedup_sim']:>8.1f}x"
            f"{r['inisim_pipeline_marginal_s'] * 1e3:>12.3g}"
            f"{r['ann2snn_pipeline_marginal_s'] * 1e3:>13.3g}{r['speedup_pipeline']:>8.1f}x"
            for name, r in results.items()])
    _table("\nlower bounds on the simulation cost per sample at this CPU's product rate "
           f"({next(iter(results.values()))['peak_gflops']:.0f} GFLOP/s): dense = spiking "
           "layers' MACs every step,\nevents = one add per synaptic event (ideal "
           "event-driven); max = INIsim sim / bound, the most any such simulator could gain",
           f"{'model':<17}{'dense MFLOP':>12}{'bound ms':>9}{'max':>8}"
           f"{'events MFLOP':>13}{'bound ms':>9}{'max':>8}",
           [f"{name:<17}{r['dense_flops_per_sample'] / 1e6:>12.3g}"
            f"{r['dense_floor_s'] * 1e3:>9.3g}{r['max_speedup_dense']:>7.0f}x"
            f"{r['event_flops_per_sample'] / 1e6:>13.3g}{r['event_floor_s'] * 1e3:>9.3g}"
            f"{r['max_speedup_events']:>7.0f}x" for name, r in results.items()])
    pairs = [(k, results[k + " (busy)"]) for k in results if k + " (busy)" in results]
    if pairs:
        _table("\nthe whole `ann2snn run config.ini` (a subprocess: start-up, loading, "
               "conversion, ANN evaluation,\nsimulation, diagnostics, report), wall time in "
               "s (median of --run-repeats), quiet and with a busy loop on one CPU (target: "
               "within 1.5x)",
               f"{'model':<17}{'quiet':>8}{'busy':>8}{'ratio':>8}",
               [f"{k:<17}{results[k]['ann2snn_run_wall_s']:>8.2f}"
                f"{b['ann2snn_run_wall_s']:>8.2f}"
                f"{b['ann2snn_run_wall_s'] / results[k]['ann2snn_run_wall_s']:>7.2f}x"
                for k, b in pairs])
    loads = {k: r.get("load_average_1min") for k, r in results.items()}
    if all(loads.values()):
        print("1-min load average (before INIsim, after INIsim, after ann2snn) on "
              f"{os.cpu_count()} CPUs: " + "; ".join(
                  f"{k} " + "/".join(f"{x:.1f}" for x in v) for k, v in loads.items()))
    print("\ntargets: |diff| <= 0.5 pp for ReLU outputs, diff >= -0.5 pp for softmax outputs; "
          "agreement >= 95%; speed-up >= 100x (the earlier work's target), >= 20x for the "
          "pipeline (issue 11, quiet and busy); simulation at >= 0.5 of the dense bound's "
          "speed (issue 11, the CNNs)")

    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    for name, r in results.items():
        diff = (r["ann2snn_accuracy"] - r["inisim_accuracy"]) * 100
        acc_ok = abs(diff) <= 0.5 if r["readout"] == "spike_count" else diff >= -0.5
        of_bound = r["dense_floor_s"] / r["ann2snn_sim_marginal_s"]
        print(f"  {name:<17} accuracy {met(acc_ok)}, agreement "
              f"{met(r['prediction_agreement'] >= 0.95)}; speed-up >= 100x "
              f"{met(r['speedup_sim'] >= 100)} (simulation, {r['speedup_sim']:.1f}x), "
              f"{met(r['speedup_pipeline'] >= 100)} (pipeline); >= 20x "
              f"{met(r['speedup_pipeline'] >= 20)} (pipeline, {r['speedup_pipeline']:.1f}x); "
              f"of the dense bound's speed {of_bound:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="/work/shared/data/mnist",
                   help="folder with the four MNIST IDX .gz files")
    p.add_argument("--stbx-python", default="/work/stbx-venv/bin/python",
                   help="Python of the virtual environment holding snntoolbox 0.6.0")
    p.add_argument("--work-dir", default="snntoolbox_compare_work",
                   help="where models, data, configs and results go (kept for reuse)")
    p.add_argument("--models", default=",".join(n for ns in ARCHS.values() for n in ns),
                   help="comma-separated subset of the models")
    p.add_argument("--num-test", type=int, default=500, help="test samples (default 500)")
    p.add_argument("--duration", type=int, default=100, help="time steps (default 100)")
    p.add_argument("--batch-size", type=int, default=100, help="default 100")
    p.add_argument("--percentile", type=float, default=99.9)
    p.add_argument("--num-norm", type=int, default=1000,
                   help="training samples in x_norm.npz (a multiple of --batch-size)")
    p.add_argument("--epochs", type=int, default=2, help="training epochs (default 2)")
    p.add_argument("--small-n", type=int, default=100,
                   help="the small sample count of ann2snn's marginal cost (default 100)")
    p.add_argument("--repeats", type=int, default=3, help="ann2snn timing repeats")
    p.add_argument("--retrain", action="store_true", help="train the models again")
    p.add_argument("--rerun-inisim", action="store_true", help="ignore cached INIsim results")
    p.add_argument("--inisim-only", action="store_true",
                   help="only train and run snntoolbox (fills the cache for later runs)")
    p.add_argument("--run-repeats", type=int, default=3,
                   help="`ann2snn run` wall times to take the median of (default 3)")
    p.add_argument("--busy", action="store_true",
                   help="also run each comparison with a competing busy-loop process")
    args = p.parse_args()
    if args.num_test % args.batch_size or args.num_norm % args.batch_size:
        sys.exit("--num-test and --num-norm must be multiples of --batch-size (snntoolbox "
                 "drops incomplete batches)")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    prepare_data(args, work)
    trained = train_models(args, work)
    for name, info in trained.items():
        print(f"  trained {name}: Keras test accuracy {info['test_accuracy']:.2%}")
    rates = product_rates()
    args.peak_flops = peak_flops(rates)
    print("float32 product rates on this CPU: " + ", ".join(
        f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in rates.items())
        + f"; the dense bound takes the better, {args.peak_flops / 1e9:.0f}")
    results = {}
    busy_loop = _kernels_compare().busy_loop
    for name in args.models.split(","):
        for busy in (False, True) if args.busy else (False,):
            key = name + (" (busy)" if busy else "")
            with busy_loop(busy):
                results[key] = compare(args, work, name, busy)
            if args.inisim_only:
                continue
            print(json.dumps(results[key], indent=1), flush=True)
    if args.inisim_only:
        return
    (work / "summary.json").write_text(json.dumps(results, indent=2))
    report(results)


if __name__ == "__main__":
    main()
