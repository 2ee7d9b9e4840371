"""ann2snn trace net.snn --dataset D --samples 0:4 --timesteps T -o trace.npz"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..validate import device_arg, positive, writable_output


def add_parser(sub):
    from .common import add_dataset_args, add_delay_arg

    p = sub.add_parser(
        "trace", help="record currents, membranes and spikes of a few samples",
        description="Simulate the chosen test samples and record, per layer and time step, "
                    "the input current, the membrane before and after reset, and the spikes, "
                    "plus the input as presented and the normalized ANN activations. The "
                    "format (docs/traces.md) is what 'ann2snn diff' compares, and what a C or "
                    "HDL testbench can write as .npy or CSV files.",
        epilog="Examples:\n"
               "  ann2snn trace net.snn -d digits --samples 0:4 -T 32 -o trace.npz\n"
               "  ann2snn trace net.snn -d digits --samples 0,7 --layers relu -o tr/ "
               "--format csv\n"
               "  ann2snn trace net.snn -d digits --samples 0:2 -T 32 --backend nest "
               "-o nest.npz\n"
               "  ann2snn trace net.snn -d digits --samples 0:2 -T 32 --synaptic-delay 1 "
               "-o ref.npz\n"
               "  ann2snn diff ref.npz nest.npz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snn", metavar="NET.snn", help="a file written by 'ann2snn convert'")
    add_dataset_args(p)
    p.add_argument("--samples", default="0:4", metavar="SPEC",
                   help="test-set indices: A:B (as in Python), or a list 0,5,9 (default 0:4)")
    p.add_argument("--layers", nargs="+", metavar="LAYER",
                   help="layers to record (default: the input and every spiking population)")
    p.add_argument("--kinds", nargs="+", choices=["current", "v_pre_reset", "v", "spikes"],
                   help="what to record per layer (default: all four)")
    p.add_argument("--timesteps", "-T", type=positive, default=64, help="time steps (default 64)")
    p.add_argument("--encoding", choices=["analog", "poisson", "ttfs"], default="analog",
                   help="input encoding (default analog)")
    p.add_argument("--input-rate", type=float, default=1.0,
                   help="Poisson spike probability per step for an input of 1 (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Poisson input (default 0)")
    p.add_argument("--device", default="cpu", type=device_arg,
                   help="cpu or cuda (default cpu)")
    add_delay_arg(p)
    p.add_argument("--backend", default="ann2snn", metavar="NAME",
                   help="whose simulator records the trace (default ann2snn, the built-in "
                        "one): nengo, brian2 or nest write the same format, so 'ann2snn "
                        "diff' compares them layer by layer with the built-in trace taken "
                        "at the same --synaptic-delay (brian2, nest: 1); analog input only")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="trace.npz, or a directory for --format npy/csv")
    p.add_argument("--format", choices=["npz", "npy", "csv"],
                   help="npz (default for a .npz path), npy or csv (directory layouts)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print nothing on success (errors still go to stderr)")
    return p


def parse_samples(spec: str, n: int) -> list[int]:
    """'A:B' / 'A:B:S' (a Python slice over the test set) or '3,5,9' -> indices."""
    spec = spec.strip()
    try:
        if ":" in spec:
            parts = [int(x) if x.strip() else None for x in spec.split(":")]
            if len(parts) > 3:
                raise ValueError
            if any(v is not None and not -n <= v <= n for v in parts[:2]):
                raise ConfigError(f"--samples {spec!r}: outside the test set (0..{n - 1})")
            idx = list(range(n))[slice(*parts)]
        else:
            idx = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--samples {spec!r}: use A:B (e.g. 0:4) or a list (e.g. 0,5,9)"
                          ) from None
    if not idx:
        raise ConfigError(f"--samples {spec!r} selects no sample of the {n} test samples")
    bad = [i for i in idx if not 0 <= i < n]
    if bad:
        raise ConfigError(f"--samples {spec!r}: indices {bad[:5]} are outside the test set "
                          f"(0..{n - 1})")
    return idx


def _backend(args, snn):
    """The backend asked for (None: the built-in simulator), checked before any work."""
    from ..backends import DEFAULT, get_backend
    from ..backends.trace import default_delay

    if args.backend == DEFAULT:
        return None
    backend = get_backend(args.backend, "run")
    if not backend.traces:
        raise ConfigError(f"--backend {args.backend} records no traces; use nengo, brian2, "
                          "nest or the built-in simulator")
    if args.encoding != "analog":
        raise ConfigError(f"--encoding {args.encoding}: --backend {args.backend} traces analog "
                          "input only; drop --encoding")
    if args.device != "cpu":
        raise ConfigError(f"--device {args.device}: --backend {args.backend} runs on the CPU")
    delay = default_delay(backend, snn.graph) if args.synaptic_delay is None \
        else args.synaptic_delay
    backend.check(snn.graph, encoding=args.encoding, synaptic_delay=delay)
    backend.require()
    return backend


def run(args) -> int:
    from .. import load
    from ..analysis.trace import record_trace
    from ..data import load_dataset

    out = Path(args.output)
    fmt = args.format or ("npz" if out.suffix == ".npz" else "npy")
    if fmt == "npz" and out.suffix != ".npz":
        raise ConfigError(f"-o {out}: an npz trace needs a path ending in .npz")
    if fmt != "npz" and out.suffix == ".npz":
        raise ConfigError(f"-o {out}: --format {fmt} writes a directory; drop the .npz")
    writable_output(out, "-o", directory=fmt != "npz")  # before any work
    snn = load(args.snn)
    backend = _backend(args, snn)
    test = load_dataset(args.dataset, "test", data_dir=args.data_dir, standardize=args.standardize)
    idx = parse_samples(args.samples, len(test))
    if backend is None:
        trace = record_trace(snn, test.x, idx, args.timesteps, args.layers, args.encoding,
                             kinds=args.kinds, input_rate=args.input_rate, seed=args.seed,
                             device=args.device, synaptic_delay=args.synaptic_delay or 0)
    else:
        from ..backends.trace import record_trace as backend_trace

        trace = backend_trace(snn, test.x, idx, args.timesteps, args.layers,
                              backend=args.backend, kinds=args.kinds,
                              synaptic_delay=args.synaptic_delay)
    trace.source += f" ({Path(args.snn).name}, {args.dataset} test set)"
    path = trace.save(out, fmt)
    if args.quiet:
        return 0
    size = sum(a.nbytes for a in trace.arrays.values())
    print(f"wrote {path}: {len(idx)} samples x {trace.timesteps} steps, "
          f"{size / 1e6:.1f} MB of arrays")
    for layer in trace.layers:
        print(f"  {layer.name:<20} {layer.op:<6} {'x'.join(map(str, layer.shape)):<12} "
              + ", ".join(trace.kinds(layer.name)))
    return 0
