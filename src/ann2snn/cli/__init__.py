"""The ``ann2snn`` command. One module per subcommand; each has ``add_parser`` and ``run``.

Exit codes: 0 success, 2 user error (one line, no traceback), 1 internal error (a bug:
the exception named, a request to report it; the traceback with -v), 130 interrupted
(SIGINT or SIGTERM; nothing half-written is left), 141 stdout closed (``| head``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import traceback

from ..errors import Ann2SnnError

#: Subcommand modules (relative to this package), in --help order.
COMMANDS = (
    "demo",
    "convert",
    "finetune",
    "simulate",
    "run",
    "info",
    "trace",
    "diff",
    "quantize",
    "export",
    "sweep",
)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) that points at --help."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


VERBOSE_HELP = "log details to stderr (and a traceback on an internal error)"


def _threads(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


THREADS_ARG = dict(type=_threads, default=None, metavar="N",
                   help="CPU threads for the simulation (default: the CPUs this process may "
                        "use, at most 8; 1 is fastest when other programs keep a core busy)")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(
        prog="ann2snn",
        description="Convert trained neural networks into spiking neural networks, simulate "
                    "them, explain where they lose accuracy, and deploy them.",
        epilog="Start with 'ann2snn demo'. Every command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"ann2snn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--threads", **THREADS_ARG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = importlib.import_module(f".{name}", __name__)
        p = mod.add_parser(sub)
        # -v after the subcommand too; SUPPRESS keeps a -v given before it
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help=VERBOSE_HELP)
        p.add_argument("--threads", **{**THREADS_ARG, "default": argparse.SUPPRESS})
        p.set_defaults(_run=mod.run)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs (files.py)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _handle_sigterm(handler):
    """Install ``handler`` for SIGTERM (only the main thread may); the previous one."""
    if handler is None:
        return None
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # main() called from another thread
        return None


def main(argv: list[str] | None = None) -> int:
    old_term = _handle_sigterm(_on_sigterm)  # first: a signal at any moment is handled
    try:
        return _main(argv)
    except KeyboardInterrupt as e:
        print("terminated" if isinstance(e, Terminated) else "interrupted", file=sys.stderr)
        return 130
    finally:
        _handle_sigterm(old_term)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # SystemExit: --help, --version (0), a bad option (2)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # for relaunching, resuming
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
    except BrokenPipeError:  # stdout closed early (| head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit flush does not fail again
        return 141
    except Exception as e:  # a bug: name it, ask for a report, traceback only with -v
        if args.verbose:
            traceback.print_exc()
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(f"internal error (a bug in ann2snn, please report it with the command line): "
              f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
              f"[{os.path.basename(where.filename)}:{where.lineno}]"
              + ("" if args.verbose else "; run with -v for the traceback"), file=sys.stderr)
        return 1


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
