"""ann2snn diff A B: compare two traces and name the first divergence."""

from __future__ import annotations

import argparse
import json


def add_parser(sub):
    p = sub.add_parser(
        "diff", help="compare two traces; name the first divergence",
        description="Compare two traces (from 'ann2snn trace', the C backend, another "
                    "simulator or a testbench; .npz or a directory of .npy/.csv files, see "
                    "docs/traces.md). Prints per layer the number of differing spikes and the "
                    "largest membrane and current differences, and the first divergence in "
                    "simulation order (time step, then layer, then sample, then neuron) with "
                    "both values and the neuron's inputs at that step.",
        epilog="Exit status: 0 equal, 1 different, 2 bad input (unreadable trace, different "
               "steps, samples, layers or synaptic delays).\n"
               "Example:\n  ann2snn diff trace.npz c_trace/ --atol 1e-6",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", metavar="A", help="a trace: file.npz or a directory")
    p.add_argument("b", metavar="B", help="the trace to compare with")
    p.add_argument("--atol", type=float, default=0.0,
                   help="values differ when |A - B| > atol (default 0: exact)")
    p.add_argument("--layers", nargs="+", metavar="LAYER",
                   help="compare only these layers (they must be in both traces)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    return p


def run(args) -> int:
    from ..analysis.diff import diff_traces, format_diff
    from ..analysis.traceio import load_trace

    a = load_trace(args.a)
    b = load_trace(args.b)
    d = diff_traces(a, b, atol=args.atol, layers=args.layers)
    if args.json:
        print(json.dumps({"a": str(args.a), "b": str(args.b), **d.to_dict()}, indent=2))
    else:
        print(f"A: {args.a}  ({a.source or 'no source'})")
        print(f"B: {args.b}  ({b.source or 'no source'})")
        print(f"{a.timesteps} steps, {len(a.samples)} samples {a.samples[:8]}"
              f"{' ...' if len(a.samples) > 8 else ''}\n")
        print(format_diff(d))
    return 0 if d.equal else 1
