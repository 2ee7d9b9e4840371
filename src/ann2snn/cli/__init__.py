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
    "sweep",
)


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = importlib.import_module(f".{name}", __name__)
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # for relaunching, resuming
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except Ann2SnnError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
