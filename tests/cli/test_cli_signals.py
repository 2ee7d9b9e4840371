"""SIGINT and SIGTERM at random moments of `simulate` and `demo`, and during the save: the
run folder is complete or absent, and nothing else is left beside it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

COMPLETE = {"metrics.json", "predictions.npz", "report.html"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


#: as the console script, once its imports are done (a signal during Python's own start-up
#: is the interpreter's to report): says "ready" on stderr, then runs main().
SCRIPT = ("import sys\nfrom ann2snn.cli import main\nprint('ready', file=sys.stderr, "
          "flush=True)\nsys.exit(main(sys.argv[1:]))\n")


def _start(argv):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, *map(str, argv)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    assert proc.stderr.readline().decode().strip() == "ready"
    return proc


def _check(parent, out, proc):
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert code in (0, 130), (code, err)
    assert "Traceback" not in err, err
    if out.exists():
        assert COMPLETE <= {p.name for p in out.iterdir()}, (code, sorted(out.iterdir()))
    # the batch store <out>.partial/ (docs/scale-out.md) stays only for an absent run
    # folder, to resume; never beside a complete one; no staging folder, no .tmp file
    store = f"{out.name}.partial"
    leftovers = [p.name for p in parent.iterdir() if p != out and p.name != "net.snn"
                 and not (p.name == store and not out.exists())]
    assert leftovers == [], leftovers
    return code


def _interrupt_at_save(parent, out, proc, sig):
    """Wait until the staging folder appears (the save has begun), then signal."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(f".{out.name}.partial-") for p in parent.iterdir()):
            proc.send_signal(sig)
            return
        time.sleep(0.002)


@pytest.fixture(scope="module")
def net(tmp_path_factory, digits_snn):
    d = tmp_path_factory.mktemp("sig")
    digits_snn.save(d / "net.snn")
    return d / "net.snn"


CASES = [(signal.SIGINT, "random"), (signal.SIGTERM, "random"), (signal.SIGTERM, "save"),
         (signal.SIGINT, "save")]


@pytest.mark.parametrize("sig,when", CASES[:3])
def test_simulate_interrupted(tmp_path, net, sig, when):
    (tmp_path / "net.snn").write_bytes(net.read_bytes())
    out = tmp_path / "run"
    proc = _start(["simulate", tmp_path / "net.snn", "-d", "digits", "-T", "8",
                   "--num-samples", "30", "--out", out, "--quiet"])
    if when == "save":
        _interrupt_at_save(tmp_path, out, proc, sig)
    else:
        time.sleep(random.Random(int(sig) * 7).uniform(0.0, 3.0))
        proc.send_signal(sig)
    _check(tmp_path, out, proc)


@pytest.mark.parametrize("sig,when", CASES[1:2] + CASES[3:])
def test_demo_interrupted(tmp_path, sig, when):
    out = tmp_path / "demo"
    proc = _start(["demo", "--epochs", "2", "-T", "4", "--out", out, "--quiet"])
    if when == "save":
        _interrupt_at_save(tmp_path, out, proc, sig)
    else:
        time.sleep(random.Random(int(sig)).uniform(0.0, 4.0))
        proc.send_signal(sig)
    _check(tmp_path, out, proc)
