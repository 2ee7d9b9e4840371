"""ann2snn demo: train, convert and simulate a small CNN on the bundled digits."""

from __future__ import annotations

import time

from ..validate import positive, writable_output


def add_parser(sub):
    p = sub.add_parser(
        "demo", help="the whole job on a bundled dataset, in seconds",
        description="Train a small CNN (conv, batch norm, max and average pooling, dropout, "
                    "linear) on scikit-learn's bundled 8x8 digits, convert it to a spiking "
                    "network, simulate it, print ANN vs SNN accuracy at t = 1, 2, 4, ..., T, "
                    "and write a run folder.")
    p.add_argument("--out", metavar="DIR", default="runs/demo", help="run folder (runs/demo)")
    p.add_argument("--timesteps", "-T", type=positive, default=64, help="time steps (default 64)")
    p.add_argument("--epochs", type=positive, default=40, help="training epochs (default 40)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    return p


def run(args) -> int:
    import torch

    from .. import convert
    from ..data import load_dataset
    from ..demo import train_digits_cnn
    from ..files import atomic_dir
    from ..report.run_folder import write_run_files
    from .common import print_summary

    out = writable_output(args.out, "--out", directory=True)  # before any training
    progress = not args.quiet and not args.json
    train = load_dataset("digits", "train")
    test = load_dataset("digits", "test")
    t0 = time.perf_counter()
    model = train_digits_cnn(train.x, train.y, epochs=args.epochs, seed=args.seed,
                             progress=progress)
    train_s = time.perf_counter() - t0
    if not args.json:
        print(f"trained DigitsCNN on {len(train)} digits in {train_s:.1f} s")
    snn = convert(model, train.x, percentile=99.9)
    program = torch.export.export(model, (torch.as_tensor(test.x[:2]),))
    result = snn.simulate(test, timesteps=args.timesteps, progress=progress,
                          config={"demo": {"epochs": args.epochs, "seed": args.seed,
                                           "timesteps": args.timesteps}})
    result.wall_time_s["train"] = train_s
    with atomic_dir(out) as tmp:  # the run folder appears complete, or not at all
        snn.save(tmp / "net.snn")
        torch.export.save(program, str(tmp / "model.pt2"))
        write_run_files(result, tmp)
    print_summary(result, out, args)
    return 0
