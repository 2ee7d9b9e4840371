"""ann2snn simulate net.snn --dataset D --timesteps T"""

from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    from ..backends import DEFAULT
    from .common import add_dataset_args, add_sim_args, backend_help

    p = sub.add_parser(
        "simulate", help="simulate a converted network on a test set",
        description="Simulate a spiking network on the test split of --dataset; print the SNN "
                    "accuracy at t = 1, 2, 4, ..., T beside the ANN's, and write a run folder "
                    "(metrics.json, predictions.npz, accuracy_vs_time.png).")
    p.add_argument("snn", metavar="NET.snn", help="a file written by 'ann2snn convert'")
    add_dataset_args(p)
    add_sim_args(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<net>-T<T>)")
    p.add_argument("--backend", default=DEFAULT, metavar="NAME",
                   help=f"where to run it (default {DEFAULT}): {backend_help('run')}")
    return p


def run(args) -> int:
    from .. import load
    from ..backends import get_backend
    from ..data import load_dataset
    from .common import print_summary

    backend = get_backend(args.backend, "run")
    snn = load(args.snn)
    backend.check(snn.graph, encoding=args.encoding,  # before any data are loaded
                  synaptic_delay=args.synaptic_delay)
    backend.require()
    test = load_dataset(args.dataset, "test", data_dir=args.data_dir, standardize=args.standardize)
    result = backend.run(snn, test, timesteps=args.timesteps, batch_size=args.batch_size,
                         device=args.device, num_samples=args.num_samples,
                         encoding=args.encoding, input_rate=args.input_rate, seed=args.seed,
                         synaptic_delay=args.synaptic_delay,
                         progress=not args.quiet and not args.json)
    out = Path(args.out or f"runs/{Path(args.snn).stem}-T{args.timesteps}")
    result.save(out)
    print_summary(result, out, args)
    return 0
