"""ann2snn simulate net.snn --dataset D --timesteps T"""

from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    from ..backends import DEFAULT
    from .common import add_dataset_args, add_scale_args, add_sim_args, backend_help

    p = sub.add_parser(
        "simulate", help="simulate a converted network on a test set",
        description="Simulate a spiking network on the test split of --dataset; print the SNN "
                    "accuracy at t = 1, 2, 4, ..., T beside the ANN's, and write a run folder "
                    "(metrics.json, predictions.npz, accuracy_vs_time.png). Finished batches "
                    "are kept in <out>.partial/ until the run folder is written, so an "
                    "interrupted run continues with --resume. Under torchrun (or with "
                    "--workers N) the batches are shared among the processes, with results "
                    "identical to one process's (docs/scale-out.md).")
    p.add_argument("snn", metavar="NET.snn", help="a file written by 'ann2snn convert'")
    add_dataset_args(p)
    add_sim_args(p)
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<net>-T<T>)")
    p.add_argument("--backend", default=DEFAULT, metavar="NAME",
                   help=f"where to run it (default {DEFAULT}): {backend_help('run')}")
    add_scale_args(p)
    p.add_argument("--brian2-target", choices=["numpy", "cython"],
                   help="with --backend brian2: Brian2's code target (default numpy, no "
                        "compiler needed; cython compiles once, needs a C compiler)")
    return p


def run(args) -> int:
    import sys
    import time

    from .. import load
    from ..backends import DEFAULT, get_backend
    from ..data import load_dataset
    from ..errors import Ann2SnnError, ConfigError
    from ..scale import distributed
    from ..scale.store import BatchStore, Checked, store_for
    from ..validate import writable_output
    from .common import interrupt_on_sigterm, print_summary, resume_command, synaptic_delay

    distributed.check_workers(args.workers)
    backend = get_backend(args.backend, "run")
    out = writable_output(args.out or f"runs/{Path(args.snn).stem}-T{args.timesteps}",
                          "--out", directory=True)  # before any work
    store = BatchStore(store_for(out), resume=args.resume,
                       command=resume_command(args))
    scaled = args.workers > 1 or distributed.launched()
    if args.backend != DEFAULT and (scaled or args.resume):
        raise Ann2SnnError(f"--workers, --resume and torchrun need the built-in backend "
                           f"('{DEFAULT}'), not '{args.backend}'")
    extra = {}
    if args.brian2_target is not None:
        if args.backend != "brian2":
            raise ConfigError("--brian2-target applies to --backend brian2 only")
        extra["target"] = args.brian2_target
    snn = load(args.snn)
    args.synaptic_delay = synaptic_delay(args, backend, snn.graph)
    backend.check(snn.graph, encoding=args.encoding,  # before any data are loaded
                  synaptic_delay=args.synaptic_delay, **extra)
    backend.require()
    store.check_start()
    test = load_dataset(args.dataset, "test", data_dir=args.data_dir, standardize=args.standardize)

    def simulate(device, progress, **opts):
        return backend.run(snn, test, timesteps=args.timesteps, batch_size=args.batch_size,
                           device=device, num_samples=args.num_samples,
                           encoding=args.encoding, input_rate=args.input_rate,
                           seed=args.seed, synaptic_delay=args.synaptic_delay,
                           progress=progress, **extra, **opts)

    if args.workers > 1 and not distributed.launched():
        try:  # refuse a store of another run here, before the processes start
            simulate(args.device, False, store=store.checked())
        except Checked:
            pass
        return distributed.launch(distributed.strip_workers(args._argv), args.workers)
    ctx = distributed.init(args.device)
    interrupt_on_sigterm()
    opts = {"store": store} if args.backend == DEFAULT else {}
    started = time.time()
    try:
        result = simulate(distributed.local_device(args.device),
                          not args.quiet and not args.json and ctx.is_root, **opts)
        if ctx.is_root:
            result.save(out)
            if args.backend == DEFAULT:
                store.remove()
            print_summary(result, out, args)
        distributed.barrier()
    except KeyboardInterrupt:
        metrics = out / "metrics.json"
        if store.folder.is_dir() and metrics.is_file() and metrics.stat().st_mtime >= started:
            store.remove()  # interrupted after this run's folder was complete: stale
        elif store.folder.is_dir():
            print(f"interrupted: {len(store.done())} batches kept in {store.folder}; "
                  f"resume with:\n  {store.command}", file=sys.stderr)
        raise
    finally:
        distributed.finish()
    return 0
