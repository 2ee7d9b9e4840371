"""ann2snn run config.toml"""

from __future__ import annotations

from ..config import load_config


def add_parser(sub):
    p = sub.add_parser(
        "run", help="run the whole pipeline from a config file (TOML or snntoolbox INI)",
        description="Evaluate the ANN, normalize, convert and simulate, as a config file says. "
                    "See docs/config.md for every key; examples/ has runnable configs.")
    p.add_argument("config", help="a .toml file (or an SNN Toolbox .ini config)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run whose finished batches are in "
                        "<output.dir>.partial/ (same config; else start afresh)")
    return p


def run(args) -> int:
    """Simulation workers come from ``simulation.workers`` (or torchrun)."""
    from ..pipeline import run_pipeline
    from ..scale import distributed
    from ..scale.store import BatchStore, store_for
    from .common import interrupt_on_sigterm, print_summary, resume_command

    cfg = load_config(args.config)
    if getattr(args, "threads", None) is not None:  # --threads beats the config's key
        cfg.simulation.threads = args.threads
    store = BatchStore(store_for(cfg.output.dir), resume=args.resume,
                       command=resume_command(args))
    store.check_start()
    if cfg.simulation.workers > 1 and not distributed.launched():
        return distributed.launch(args._argv, cfg.simulation.workers)
    ctx = distributed.init(cfg.simulation.device)
    interrupt_on_sigterm()
    try:
        snn, result, out = run_pipeline(cfg, progress=not args.quiet and not args.json,
                                        store=store)
    finally:
        distributed.finish()
    if not ctx.is_root:
        return 0
    if result is not None:
        print_summary(result, out, args)
    else:
        print(f"converted; wrote {out}")
    return 0
