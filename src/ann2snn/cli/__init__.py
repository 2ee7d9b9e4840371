"""The ``ann2snn`` command. One module per subcommand; each has ``add_parser`` and ``run``.

Exit codes: 0 success, 2 user error (message, no traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import Ann2SnnError

#: Subcommand modules (relative to this package), in --help order.
COMMANDS = (
    "demo",
    "convert",
    "simulate",
    "run",
    "info",
    "trace",
    "diff",
    "quantize",
    "export",
)


def _threads(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


THREADS_ARG = dict(type=_threads, default=None, metavar="N",
                   help="CPU threads for the simulation (default: the CPUs this process may "
                        "use, at most 8; 1 is fastest when other programs keep a core busy)")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="ann2snn",
        description="Convert trained neural networks into spiking neural networks, simulate "
                    "them, explain where they lose accuracy, and deploy them.",
        epilog="Start with 'ann2snn demo'. Every command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"ann2snn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("--threads", **THREADS_ARG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = importlib.import_module(f".{name}", __name__)
        p = mod.add_parser(sub)
        p.add_argument("--threads", **{**THREADS_ARG, "default": argparse.SUPPRESS})
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        set_cli_threads(args)
        return int(args._run(args) or 0)
    except Ann2SnnError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def set_cli_threads(args) -> None:
    """Apply --threads (else the policy's default; ``run`` lets its config decide when
    --threads is not given) and say so in verbose mode."""
    from ..threads import available_cpus, set_threads

    if args.command == "run" and args.threads is None:
        return
    n = set_threads(args.threads)
    if args.verbose:
        from ..sim import kernels

        logging.getLogger("ann2snn").info(
            "threads: %d (%d CPUs available to this process; --threads N to change); "
            "neuron kernels: %s", n, available_cpus(), kernels.active())


if __name__ == "__main__":
    sys.exit(main())
