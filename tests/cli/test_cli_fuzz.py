"""Fuzzing the command line (hypothesis): random subcommands, options and bad values, and
corrupted model, network, config, trace and dataset files (truncated, random bytes, empty,
another format under the right suffix) for every loader.

The property: exit 0; or 2 with one message "error: ..." (one line, but for the errors
that list every problem at once below it); or 1 only where an internal error
was injected on purpose (one line "internal error ...") or where ``diff`` finds two traces
different; never a traceback; and on failure the output location is as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ann2snn.cli import main  # noqa: E402

BAD_INTS = ["-5", "0", "-1", "abc", "", "1e3", "nan", "99999999999999999999999"]
BAD_FLOATS = ["nan", "-inf", "abc", "", "-1"]
GOOD_T = ["1", "2", "3"]
GOOD_N = ["1", "3", "8"]
STATS: Counter = Counter()
#: cases per run (the default keeps the test under a minute on a quiet 2-core machine)
EXAMPLES = int(os.environ.get("ANN2SNN_FUZZ_EXAMPLES", "50"))


@pytest.fixture(scope="module")
def world(tmp_path_factory, digits_snn, digits_model):
    """Valid files, and for every loader corrupted ones under its suffix."""
    d = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    digits_snn.save(d / "net.snn")
    torch.export.save(torch.export.export(digits_model, (torch.rand(2, 1, 8, 8),)),
                      str(d / "model.pt2"))
    assert main(["trace", str(d / "net.snn"), "-d", "digits", "--samples", "0:2", "-T", "3",
                 "-o", str(d / "trace.npz"), "--quiet"]) == 0
    real = {".pt2": (d / "model.pt2").read_bytes(), ".snn": (d / "net.snn").read_bytes(),
            ".npz": (d / "trace.npz").read_bytes()}
    toml = (f'[model]\npath = "{d / "model.pt2"}"\n[data]\nnum_samples = 4\n'
            'calibration_samples = 30\n[simulation]\ntimesteps = 2\n'
            '[tools]\nsimulate = false\n').encode()  # simulate's success: the simulate cases
    real[".toml"] = toml
    corrupt = {}
    for suffix in (".pt2", ".onnx", ".keras", ".h5", ".snn", ".npz", ".toml", ".ini"):
        blob = real.get(suffix, real[".snn"])
        variants = {"random": rng.bytes(2000), "empty": b"",
                    "truncated": blob[: len(blob) // 2],
                    "other": real[".pt2"] if suffix != ".pt2" else real[".snn"]}
        for kind, data in variants.items():
            p = d / f"{kind}{suffix}"
            p.write_bytes(data)
            corrupt.setdefault(suffix, []).append(str(p))
    for text, name in [("[simulation]\ntimesteps = -3\n", "neg"),
                       ('[simulation]\nbatch_size = "x"\n', "type"),
                       ("[data]\nnum_samples = 0\n", "zero"), ("[output]\ndir = 5\n", "dir")]:
        p = d / f"bad_{name}.toml"
        p.write_text(f'[model]\npath = "{d / "model.pt2"}"\n' + text)
        corrupt[".toml"].append(str(p))
    (d / "good.toml").write_bytes(toml)
    datasets = ["digits", "nosuch", "mnist", f"npz:{d / 'nodir'}"]
    for kind in ("random", "truncated", "shape", "nan"):
        dd = d / f"npz_{kind}"
        dd.mkdir()
        x = rng.random((6, 8, 8, 1)).astype(np.float32)
        if kind == "nan":
            x[1, 2, 2, 0] = np.nan
        if kind == "shape":
            x = rng.random((6, 5, 5)).astype(np.float32)
        np.savez(dd / "x_test.npz", x)
        np.savez(dd / "x_norm.npz", x)
        np.savez(dd / "y_test.npz", np.eye(10)[:6])
        if kind in ("random", "truncated"):
            data = (dd / "x_test.npz").read_bytes()
            (dd / "x_test.npz").write_bytes(rng.bytes(500) if kind == "random"
                                            else data[: len(data) // 2])
        datasets.append(f"npz:{dd}")
    mn = d / "mnist_bad"
    mn.mkdir()
    for base in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                 "train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (mn / base).write_bytes(rng.bytes(300))
    (d / "a_file").write_text("x")
    return {"dir": d, "corrupt": corrupt, "datasets": datasets, "mnist_dir": str(mn)}


def _command(draw, w):
    """One argv: a subcommand with valid arguments, then random extra options (argparse:
    the last value wins) of which most are bad, and a random input file."""
    d = w["dir"]
    out_dir = str(d / "out" / "o")
    pick = lambda xs: draw(st.sampled_from(xs))  # noqa: E731
    cmd = pick(["convert", "simulate", "run", "info", "trace", "diff", "quantize", "export",
                "demo"])
    snn = pick([str(d / "net.snn")] * 3 + w["corrupt"][".snn"] + w["corrupt"][".pt2"][:1])
    model = pick([str(d / "model.pt2")] * 2 + w["corrupt"][".pt2"] + w["corrupt"][".onnx"]
                 + w["corrupt"][".keras"] + w["corrupt"][".h5"] + [str(d / "net.snn")])
    data = pick(["digits"] * 4 + w["datasets"])
    sim = ["-T", pick(GOOD_T), "--num-samples", pick(GOOD_N), "--quiet"]
    argv = {
        "convert": ["convert", model, "-d", data, "-o", out_dir + ".snn",
                    "--calibration-samples", "30"],
        "simulate": ["simulate", snn, "-d", data, "--out", out_dir, *sim],
        "run": ["run", pick([str(d / "good.toml")] + w["corrupt"][".toml"]
                            + w["corrupt"][".ini"]), "--quiet"],
        "info": ["info", pick([snn, model])],
        "trace": ["trace", snn, "-d", data, "--samples", pick(["0:2", "0,1", "5:1", "x", "-1"]),
                  "-T", pick(GOOD_T), "-o", out_dir + ".npz", "--quiet"],
        "diff": ["diff", pick([str(d / "trace.npz")] + w["corrupt"][".npz"]),
                 pick([str(d / "trace.npz")] + w["corrupt"][".npz"])],
        "quantize": ["quantize", snn, "-o", out_dir + ".snn", "-T", pick(GOOD_T),
                     "--num-samples", pick(GOOD_N)],
        "export": ["export", "c", snn, "-o", out_dir, "--num-samples", pick(GOOD_N)],
        "demo": ["demo", "--out", out_dir, "--epochs", pick(BAD_INTS)],  # never trains
    }[cmd]
    extras = {
        "convert": [("--percentile", BAD_FLOATS + ["50"]), ("--method", ["max", "x"]),
                    ("--calibration-samples", BAD_INTS), ("--v0", BAD_FLOATS),
                    ("--weights", [str(d / "random.pt2")]), ("-o", [str(d / "a_file/x.snn"),
                                                               str(d)])],
        "simulate": [("-T", BAD_INTS), ("--batch-size", BAD_INTS + ["2"]),
                     ("--num-samples", BAD_INTS), ("--device", ["tpu", "cuda:x", "gpu"]),
                     ("--encoding", ["poisson", "ttfs", "bogus"]),
                     ("--input-rate", BAD_FLOATS), ("--backend", ["nope"]),
                     ("--out", [str(d / "a_file/run")]), ("--data-dir", [w["mnist_dir"]])],
        "trace": [("-T", BAD_INTS), ("--layers", ["nope"]), ("--format", ["csv", "xml"]),
                  ("--device", ["tpu"]), ("-o", [str(d / "a_file/t.npz"), out_dir])],
        "quantize": [("--weight-bits", BAD_INTS + ["1", "40"]), ("--state-bits", ["3", "99"]),
                     ("--input-range", BAD_FLOATS), ("-d", [data]), ("--batch-size", BAD_INTS),
                     ("-o", [str(d / "a_file/q.snn")])],
        "export": [("-T", BAD_INTS), ("--num-samples", BAD_INTS), ("-d", [data]),
                   ("-o", [str(d / "a_file/c")])],
        "demo": [("-T", BAD_INTS), ("--out", [str(d / "a_file/demo")])],
        "info": [("--input-shape", ["1,8,8", "x", "-1"])],
        "diff": [("--atol", BAD_FLOATS + ["0.5"]), ("--layers", ["nope"])],
        "run": [("--bogus", [""])],
    }[cmd]
    for opt, values in draw(st.lists(st.sampled_from(extras), max_size=2)):
        argv += [opt] if values == [""] else [opt, draw(st.sampled_from(values))]
    if draw(st.integers(0, 9)) == 0:  # a random option anywhere
        argv.insert(draw(st.integers(1, len(argv))), pick(["--nope", "-z", "--", "-v"]))
    return cmd, argv


def _snapshot(root: Path) -> dict:
    """Every path under ``root``, with size and time for files (a folder's own time
    changes when the write probe of validate.py creates and removes its test file)."""
    return {str(p.relative_to(root)): None if p.is_dir() else
            (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _run(argv) -> tuple[int, str]:
    err = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code
    return code, err.getvalue()


@pytest.fixture
def fuzz_env(world, monkeypatch, tmp_path):
    monkeypatch.setenv("ANN2SNN_DATA", str(tmp_path / "no_data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("ann2snn.data.mnist.download_file", _offline)
    monkeypatch.chdir(tmp_path)
    return world


def _offline(*a, **k):
    raise OSError("offline (fuzz test)")


def test_cli_fuzz(fuzz_env):
    w = fuzz_env
    root = w["dir"]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(st.data())
    def check(data):
        inject = data.draw(st.integers(0, 7)) == 0  # one case in 8: a deliberate bug
        cmd, argv = _command(data.draw, w)
        out = root / "out"
        out.mkdir(exist_ok=True)
        before = _snapshot(root)
        if inject:  # a deliberate bug inside the command: exit 1, one line
            import importlib

            mod = importlib.import_module(f"ann2snn.cli.{cmd}")
            real = mod.run
            mod.run = _bug
            try:
                code, err = _run(argv)
            finally:
                mod.run = real
        else:
            code, err = _run(argv)
        STATS[(cmd, code)] += 1
        assert "Traceback" not in err, (argv, err)
        if code == 0:
            assert "error" not in err.lower(), (argv, err)
        elif code == 2:
            # one message; the errors that list every problem at once (unsupported
            # layers, a backend's mismatches) add their list below it
            lines = err.strip().splitlines()
            assert lines[0].startswith("error:"), (argv, err)
            assert sum("error" in line.lower() for line in lines) == 1, (argv, err)
        elif code == 1:
            assert (inject and err.startswith("internal error") and err.count("\n") == 1) \
                or (cmd == "diff" and not err), (argv, err)
        else:
            raise AssertionError((argv, code, err))
        if code != 0:
            assert _snapshot(root) == before, argv  # nothing written, nothing removed
        for p in out.iterdir():  # a clean output location for the next case
            if p.is_dir():
                import shutil

                shutil.rmtree(p)
            else:
                p.unlink()

    check()
    print("\nfuzz cases by (command, exit code):", dict(sorted(STATS.items())))
    assert sum(STATS.values()) >= EXAMPLES
    assert {code for _, code in STATS} >= {0, 2}


def _bug(args):
    raise RuntimeError("injected internal error")
