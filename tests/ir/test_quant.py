"""Integer mode as the graph records it: QuantInfo on Graph.quant, the thresholds on the
IF nodes, the file format (version 2) and the reading of version-1 files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ann2snn.errors import ConfigError
from ann2snn.ir import Graph, QuantInfo, QuantScale, is_quantized, load_graph, save_graph
from ann2snn.ir import nodes as n
from ann2snn.ir.quant import if_thresholds, thresholds
from ann2snn.ir.serialize import FORMAT_VERSION, to_dict
from ann2snn.quantize import QuantSpec, quantize, weight_bytes
from ann2snn.sim.ops import GraphParams

f32 = np.float32


def spiking() -> Graph:
    r = np.random.default_rng(3)
    w = r.normal(0, 1, (4, 2, 3, 3)) * np.array([1, 3, 0.2, 9]).reshape(4, 1, 1, 1)
    return Graph([
        n.Input("x", shape=(2, 6, 6)),
        n.Conv("c", ("x",), weight=w.astype(f32), bias=r.normal(0, .1, 4).astype(f32),
               stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
        n.IF("s", ("c",)),
        n.Flatten("f", ("s",)),
        n.Dense("d", ("f",), weight=r.normal(0, .1, (3, 144)).astype(f32), bias=None),
        n.IF("o", ("d",)),
    ], "o", {"readout": "spike_count"})


@pytest.fixture(scope="module")
def q():
    return quantize(spiking(), QuantSpec(weight_bits=6, per_channel=True)).graph


def test_per_channel_thresholds_live_on_the_if_node(q):
    s, o = q["s"], q["o"]
    assert s.thresholds is not None and len(s.thresholds) == 4
    assert len(set(s.thresholds)) > 1, "this net should need different thresholds"
    assert all(isinstance(t, int) and t >= 1 for t in s.thresholds)
    assert s.threshold == 1.0, "a non-uniform population keeps the float threshold"
    assert o.thresholds == tuple(thresholds(q)["o"]) and len(o.thresholds) == 3
    assert if_thresholds(s) == s.thresholds
    assert is_quantized(q) and not is_quantized(spiking())


def test_the_thresholds_are_no_array_buffer(q):
    assert "thresholds" not in q["s"].arrays()
    params = GraphParams(q)  # what the float simulator builds: unaffected
    assert params.get("s", "thresholds") is None


def test_weight_bytes_counts_four_bytes_per_threshold(q):
    arrays = sum(a.nbytes for x in q for a in x.arrays().values())
    assert q.quant.weight_bytes == weight_bytes(q) == arrays + 4 * (4 + 3)
    one = quantize(spiking(), QuantSpec(weight_bits=6)).graph
    assert one["s"].thresholds is None
    assert one.quant.weight_bytes == sum(a.nbytes for x in one for a in x.arrays().values()) + 8


def test_quant_info_json_round_trip(q):
    info = q.quant
    d = info.to_json()
    assert json.loads(json.dumps(d)) == d and d["scale"] == "integer"
    assert QuantInfo.from_json(json.loads(json.dumps(d))) == info
    assert info.scale is QuantScale.INTEGER and info.weight_bits == 6
    assert set(info.scales) == {"c", "d"} and all(isinstance(v, tuple)
                                                  for v in info.scales.values())


def test_quant_info_refuses_an_unknown_scale_rule(q):
    with pytest.raises(ConfigError, match="'integer', 'pow2'"):
        QuantInfo.from_json({**q.quant.to_json(), "scale": "log"})


def test_file_round_trip_keeps_quant_and_thresholds(q, tmp_path):
    save_graph(q, tmp_path / "q.snn")
    back, _ = load_graph(tmp_path / "q.snn")
    assert back.quant == q.quant and back["s"].thresholds == q["s"].thresholds
    assert "quant" not in back.meta
    header, _ = to_dict(q)
    assert header["version"] == FORMAT_VERSION == 2 and header["quant"] == q.quant.to_json()


def _write_version_1(q: Graph, path) -> None:
    """The file the previous ann2snn wrote for ``q``: no "quant" in the header, no
    "thresholds" on the IF nodes, everything in meta["quant"] (built by hand)."""
    header, arrays = to_dict(q)
    del header["quant"]
    for entry in header["nodes"]:
        for v in entry.values():
            if isinstance(v, dict) and "array" in v:
                v["array"] = "snn:" + v["array"]
        if entry["op"] == "IF":
            del entry["thresholds"]
    qi = q.quant
    header["meta"] = {**header["meta"], "quant": {
        "version": 1, "weight_bits": qi.weight_bits, "state_bits": qi.state_bits,
        "input_bits": qi.input_bits, "per_channel": qi.per_channel, "scale": "integer",
        "input_scale": qi.input_scale, "input_range": qi.input_range,
        "input_signed": qi.input_signed, "input_min": qi.input_min,
        "input_max": qi.input_max, "v_limit": qi.v_limit,
        "thresholds": {"s": list(q["s"].thresholds), "o": list(q["o"].thresholds)},
        "scales": {k: list(v) for k, v in qi.scales.items()}, "bounds": dict(qi.bounds),
        "weight_bytes": qi.weight_bytes}}
    del header["format"], header["version"]
    bundle = {"format": "ann2snn-graph", "version": 1, "graphs": {"snn": header},
              "extra": {}}
    blob = np.frombuffer(json.dumps(bundle).encode(), dtype=np.uint8)
    np.savez(path, __header__=blob, **{"snn:" + k: a for k, a in arrays.items()})


def test_a_version_1_file_is_read_into_quant_info_and_if_thresholds(q, tmp_path):
    from ann2snn import load

    _write_version_1(q, tmp_path / "old.npz")
    old = load(tmp_path / "old.npz")
    assert old.graph.quant == q.quant
    assert "quant" not in old.graph.meta and old.graph.meta == q.meta
    assert old.graph["s"].thresholds == q["s"].thresholds
    assert old.graph["o"].thresholds == q["o"].thresholds
    x = np.random.default_rng(0).random((4, 2, 6, 6)).astype(f32)
    ra = _int_readout(q, x)
    rb = _int_readout(old.graph, x)
    assert torch.equal(ra, rb) and ra.sum() > 0


def _int_readout(graph: Graph, x) -> torch.Tensor:
    from ann2snn.sim.integer import IntegerNetwork

    return IntegerNetwork(graph).run_batch(x, 10).readout
