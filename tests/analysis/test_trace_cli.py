"""ann2snn trace and simulate --json from the command line (exit 2 without traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ann2snn
from ann2snn.analysis.traceio import load_trace
from ann2snn.data import load_dataset
from ann2snn.ir import Graph
from ann2snn.ir import nodes as n


@pytest.fixture(scope="module")
def net_file(tmp_path_factory):
    """An 8x8-digits network with random weights, converted and saved."""
    rng = np.random.default_rng(0)
    g = Graph([n.Input("x", shape=(1, 8, 8)),
               n.Conv("conv", ("x",), weight=rng.normal(0, 0.4, (2, 1, 3, 3)).astype(np.float32),
                      bias=np.zeros(2, np.float32), stride=(2, 2), padding=(1, 1),
                      dilation=(1, 1)),
               n.ReLU("relu", ("conv",)), n.Flatten("flat", ("relu",)),
               n.Dense("fc", ("flat",), weight=rng.normal(0, 0.3, (10, 32)).astype(np.float32),
                       bias=np.zeros(10, np.float32))])
    snn = ann2snn.convert(g, load_dataset("digits", "train").x[:100])
    path = tmp_path_factory.mktemp("net") / "net.snn"
    snn.save(path)
    return path


def test_trace_command_writes_a_readable_trace(net_file, tmp_path, cli):
    out = tmp_path / "t.npz"
    code, text, _ = cli("trace", net_file, "-d", "digits", "--samples", "2:5",
                            "-T", "6", "-o", out)
    assert code == 0 and "wrote" in text and "relu" in text
    tr = load_trace(out)
    assert tr.samples == [2, 3, 4] and tr.timesteps == 6
    assert tr.layer_names == ["x", "relu", "fc.neurons"]
    assert tr.get("relu", "spikes").shape == (6, 3, 2, 4, 4)
    code, _, _ = cli("trace", net_file, "-d", "digits", "--samples", "2,3,4",
                         "-T", "6", "-o", tmp_path / "csv", "--format", "csv")
    assert code == 0 and (tmp_path / "csv" / "relu" / "v.csv").is_file()
    code, text, _ = cli("diff", out, tmp_path / "csv")
    assert code == 0, text


@pytest.mark.parametrize("args,message", [
    (["--samples", "1000:1002"], "outside the test set"),
    (["--samples", "a:b"], "use A:B"),
    (["--layers", "nope"], "layers are: x, relu, fc.neurons"),
    (["--format", "csv", "-o", "x.npz"], "drop the .npz"),
    (["-T", "0"], "--timesteps"),
])
def test_trace_command_bad_input_exits_2(net_file, tmp_path, cli, args, message):
    argv = ["trace", net_file, "-d", "digits", "-T", "4", "-o", tmp_path / "t.npz", *args]
    code, _, err = cli(*argv)
    assert code == 2 and message in err


def test_simulate_json_prints_the_metrics(net_file, tmp_path, cli):
    code, out, _ = cli("simulate", net_file, "-d", "digits", "--num-samples", "20",
                           "-T", "8", "--json", "--out", tmp_path / "run", "-q")
    assert code == 0
    m = json.loads(out)  # stdout is nothing but the JSON document
    assert m["num_samples"] == 20 and len(m["snn_accuracy_per_step"]) == 8
    assert [x["name"] for x in m["layers"]] == ["relu", "fc.neurons"]
    assert m["energy"]["constants"]["accumulate_pJ"] == 0.9
    assert m == json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (tmp_path / "run" / "report.html").is_file()
