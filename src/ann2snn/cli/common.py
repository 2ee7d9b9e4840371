"""Arguments and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys

from ..data import dataset_names
from ..validate import device_arg, positive


def add_dataset_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--dataset", "-d", required=required, metavar="D",
                   help="dataset: " + ", ".join(dataset_names())
                   + " (npz:DIR is the SNN Toolbox layout)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where to look for dataset files first (else $ANN2SNN_DATA, the cache)")
    p.add_argument("--standardize", action="store_true",
                   help="subtract the training mean and divide by the std per channel")


def backend_help(kind: str) -> str:
    """The registered backends that can ``kind`` ("export" or "run"), one
    "name: description" each, for a --help text (imports no backend)."""
    from ..backends import BACKENDS

    return "; ".join(f"{name}: {desc}" for name, desc in BACKENDS.describe(kind))


def add_sim_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timesteps", "-T", type=positive, default=64, help="time steps (default 64)")
    p.add_argument("--batch-size", type=positive, default=256,
                   help="samples per batch (default 256)")
    p.add_argument("--device", default="cpu", type=device_arg,
                   help="cpu or cuda (default cpu)")
    p.add_argument("--num-samples", type=positive, metavar="N",
                   help="simulate the first N test samples")
    p.add_argument("--encoding", choices=["analog", "poisson", "ttfs"], default="analog",
                   help="input encoding (default analog: constant input current)")
    p.add_argument("--input-rate", type=float, default=1.0,
                   help="Poisson spike probability per step for an input of 1 (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Poisson input (default 0)")
    add_delay_arg(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")


def add_delay_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synaptic-delay", type=int, choices=[0, 1], default=None, metavar="{0,1}",
                   help="steps a spike takes to the next population: 0 (same step) or 1 (as "
                        "in Brian2 and NEST, whose results it then reproduces); default 0, "
                        "or the backend's own delay where it has only one (brian2, nest: 1)")


def synaptic_delay(args, backend=None, graph=None) -> int:
    """--synaptic-delay as given, else 0, or the one delay ``backend`` implements."""
    if args.synaptic_delay is not None:
        return args.synaptic_delay
    if backend is not None and graph is not None:
        delays = backend.delays(graph)
        if 0 not in delays and len(delays) == 1:
            return next(iter(delays))
    return 0


def add_scale_args(p: argparse.ArgumentParser, resume: bool = True) -> None:
    """--workers and (``resume``) --resume (docs/scale-out.md)."""
    g = p.add_argument_group("scale-out")
    g.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes on this machine (torch.distributed, gloo on CPU), with "
                        "results identical to one process; for several machines launch "
                        "with torchrun instead (default 1)")
    if resume:
        g.add_argument("--resume", action="store_true",
                       help="continue the interrupted run whose finished batches are in "
                            "<out>.partial/ (same network and settings; else start afresh)")


def resume_command(args) -> str:
    """The command line that resumes this run (its arguments, with --resume)."""
    import shlex

    words = ["ann2snn", *args._argv]
    if not args.resume:
        words.append("--resume")
    return shlex.join(words)


def interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler's stop) ends the command as Ctrl-C does: with a message."""
    import signal
    import threading

    def stop(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def add_convert_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("conversion")
    g.add_argument("--method", choices=["percentile", "max"], default="percentile",
                   help="scale of each layer: a percentile of its non-zero activations, or max")
    g.add_argument("--percentile", type=float, default=99.9, help="default 99.9")
    g.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=True,
                   help="one scale per channel (default), or --no-per-channel: one per layer")
    g.add_argument("--max-to-avg", action="store_true",
                   help="replace max pooling by average pooling (else spiking max pooling)")
    g.add_argument("--reset", choices=["subtract", "zero"], default="subtract",
                   help="reset by subtraction (default) or to zero")
    g.add_argument("--v0", type=float, default=0.5,
                   help="initial membrane as a fraction of the threshold (default 0.5: "
                        "spike counts round; 0: they truncate, as snntoolbox's INIsim)")
    g.add_argument("--readout", choices=["membrane", "spike_count"], default=None,
                   help="what the prediction is read from, for any output layer: the "
                        "membrane of a non-spiking output, or its spike counts (default: "
                        "membrane after a softmax, else spike counts)")
    g.add_argument("--calibration-samples", type=positive, default=1000,
                   help="training samples used to set the scales (default 1000)")


def print_accuracy_table(result, out=None) -> None:
    out = out or sys.stdout
    ann = result.ann_accuracy
    print(f"{'t':>6}  {'SNN acc':>8}  {'ANN acc':>8}", file=out)
    for t, acc in result.table():
        a = f"{ann * 100:7.2f}%" if ann is not None else "      -"
        print(f"{t:>6}  {acc * 100:7.2f}%  {a}", file=out)


def print_summary(result, folder, args) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result.metrics(), indent=2))
        return
    print_accuracy_table(result)
    m = result.metrics()
    print(f"\n{result.num_samples} samples, T = {result.timesteps}; spikes per neuron "
          f"{m['spikes_per_neuron']['total']:.3f}; synaptic ops per sample "
          f"{m['synaptic_ops_per_sample']:.3g} (ANN MACs {m['ann_macs_per_sample']:.3g}); "
          f"SNN wall time {m['wall_time_s'].get('snn', 0):.2f} s")
    if folder is not None:
        print(f"run folder: {folder}")


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    cells = [[h for _, h in columns]] + [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for j, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, tuple):
        return "x".join(str(x) for x in v)
    return str(v)
