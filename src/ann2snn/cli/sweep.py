"""ann2snn sweep sweep.toml --out DIR"""

from __future__ import annotations


def add_parser(sub):
    from .common import add_scale_args

    p = sub.add_parser(
        "sweep", help="run a grid (or list) of conversion and simulation settings",
        description="Run every point of the [sweep] table of a run config (a grid over "
                    "percentile, method, per_channel, reset, v0, timesteps, weight_bits, or a "
                    "list of points), each in its own run folder under DIR/points/, cached "
                    "(a finished point is not run again) and resumable; then write "
                    "DIR/sweep.csv, DIR/sweep.md, the Pareto plots and DIR/sweep.html. "
                    "With --workers N the points are spread over N processes. "
                    "See docs/scale-out.md.")
    p.add_argument("config", help="a .toml run config with a [sweep] table")
    p.add_argument("--out", metavar="DIR", help="sweep folder (default: the config's "
                   "output.dir)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_scale_args(p, resume=False)  # points always continue from their batches
    return p


def run(args) -> int:
    from ..scale import distributed
    from ..scale.sweep import load_sweep
    from ..scale.sweep_run import run_sweep

    distributed.check_workers(args.workers)
    sweep = load_sweep(args.config, args.out)  # every point checked before any work
    if args.workers > 1 and not distributed.launched():
        return distributed.launch(distributed.strip_workers(args._argv), args.workers)
    distributed.init(sweep.base.simulation.device)
    try:
        root = run_sweep(args.config, args.out,
                         announce=None if args.quiet else lambda t: print(t, flush=True))
    finally:
        distributed.finish()
    if root is not None:
        print(f"{len(sweep.points)} points; table {root / 'sweep.md'}; page "
              f"{root / 'sweep.html'}")
        print((root / "sweep.md").read_text())
    return 0
