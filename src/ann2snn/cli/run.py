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
    return p


def run(args) -> int:
    from ..pipeline import run_pipeline
    from .common import print_summary

    cfg = load_config(args.config)
    if getattr(args, "threads", None) is not None:  # --threads beats the config's key
        cfg.simulation.threads = args.threads
    snn, result, out = run_pipeline(cfg, progress=not args.quiet and not args.json)
    if result is not None:
        print_summary(result, out, args)
    else:
        print(f"converted; wrote {out}")
    return 0
