"""NEST runs in a spawned worker process, never in the caller's.

NEST 3.10 was seen to segfault in ``ResetKernel`` (which ``pyNN.setup`` calls) when it
ran inside a process that had already done other work: an INI run (``ann2snn run``
with ``simulator = nest``) and the NEST tests after the rest of the suite. The process
then holds three OpenMP runtimes — torch's ``libgomp.so.1``, the fused kernels'
(sim/kernels, resolved to torch's) and NEST's own ``libgomp-a34b3233.so.1.0.0`` from
its wheel — plus torch's thread pools, and NEST's kernel may have been set up before.
Which of these breaks ``ResetKernel`` is inside NEST and the wheels (it could not be
reproduced on demand), so the backend keeps NEST out of the caller altogether: every
``run`` starts one worker (``python -m ann2snn.backends.nest.worker``, a subprocess: a
fresh interpreter, no fork of torch's threads) that imports PyNN and NEST, and nothing
else heavy — it imports neither torch nor the simulator (tested) — and simulates the
batches; the caller imports neither NEST nor PyNN. The plans and batches travel to the
worker pickled over the pipes of that subprocess, which only this process and its child
hold: our own objects between our own processes; no user file is ever unpickled (user
networks and data are read with weights_only / allow_pickle=False before this point). A
crash of the worker is a :class:`~ann2snn.errors.SimulationError` naming its exit, not a
crash of the caller.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from ...errors import SimulationError

#: the folder that holds the ``ann2snn`` package, for the worker's import path
_ROOT = str(Path(__file__).resolve().parents[3])


def load_simulator(module: str = "pyNN.nest"):
    """Import a PyNN simulator module quietly (NEST's banner, PyNN's attempt to compile
    its NEST extensions and their warnings go nowhere)."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        sim = importlib.import_module(module)
    for name in ("pyNN", "PyNN"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return sim


class Worker:
    """``with Worker("pyNN.nest") as w: w.run(plans, drives, T)``: one worker process
    (``python -m ann2snn.backends.nest.worker``) that simulates every batch of one run.

    A plain subprocess rather than ``multiprocessing``: its "spawn" start re-runs the
    caller's ``__main__`` script, which a script without ``if __name__ == "__main__"``
    does not survive. Requests and results are pickled over the worker's stdin and
    stdout; its stderr goes to a temporary file whose tail a crash reports."""

    def __init__(self, module: str = "pyNN.nest", threads: int = 1):
        self.module, self.threads = module, threads
        self._proc: subprocess.Popen | None = None
        self._log = None
        self._plans = None

    def __enter__(self) -> Worker:
        self._log = tempfile.TemporaryFile()
        env = dict(os.environ, PYNEST_QUIET="1",
                   PYTHONPATH=os.pathsep.join([_ROOT, *filter(None, [
                       os.environ.get("PYTHONPATH")])]))
        self._proc = subprocess.Popen([sys.executable, "-m", __name__], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log)
        return self

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc.stdout.close()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _ask(self, request):
        try:
            pickle.dump(request, self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
            status, value = pickle.load(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            code = self._proc.wait()
            self._log.seek(0)
            tail = self._log.read().decode(errors="replace").strip()[-1500:]
            raise SimulationError(f"the NEST worker process ({self.module}) died (exit code "
                                  f"{code}) while simulating a batch"
                                  + (f":\n{tail}" if tail else "")) from None
        if status != "ok":
            raise SimulationError(f"NEST ({self.module}) failed: {value}")
        return value

    def run(self, plans, drives, timesteps: int, record_v: bool = False) -> dict:
        """Per population its spikes ``(T, B, size)`` (or membrane, for a membrane
        readout); with ``record_v`` also ``"<name>/v"``: every membrane after each step."""
        if self._proc is None:
            raise RuntimeError("Worker.run outside 'with Worker(...)'")
        if self._plans is not plans:  # the network goes over once per run
            self._ask(("plans", self.module, self.threads, plans))
            self._plans = plans
        return self._ask(("batch", drives, int(timesteps), bool(record_v)))


def serve(inp, out) -> None:
    """The worker's loop: a request from ``inp``, its answer to ``out``, until EOF."""
    from .network import run_network

    sim = plans = None
    threads = 1
    while True:
        try:
            request = pickle.load(inp)
        except EOFError:
            return
        try:
            if request[0] == "plans":
                _, module, threads, plans = request
                sim = sim or load_simulator(module)
                answer = ("ok", None)
            else:
                _, drives, timesteps, record_v = request
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                    warnings.simplefilter("ignore")
                    answer = ("ok", run_network(sim, plans, drives, timesteps, threads,
                                                record_v))
        except Exception as e:  # noqa: BLE001  (reported to the caller, who raises it)
            answer = ("error", f"{type(e).__name__}: {e}")
        pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


if __name__ == "__main__":
    # the protocol keeps the real stdout; anything NEST or PyNN prints goes to stderr
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, protocol)
