"""The run folder: every plot as PNG, a self-contained report.html, plotting caps."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from ann2snn.analysis.layers import LayerAccumulator
from ann2snn.ir import nodes as n
from ann2snn.report.html import PLOTS

HEADINGS = ["Summary", "Layers", "Operations and energy", "Plots", "Configuration"]

def test_run_folder_has_every_plot_and_a_self_contained_report(run_folder, check_report):
    out, res = run_folder
    for name, _, _ in PLOTS:
        with Image.open(out / name) as im:
            assert im.format == "PNG" and im.size[0] > 200
    html = (out / "report.html").read_text("utf-8")
    check_report(html)
    assert "0.9 pJ per accumulate" in html and "4.6 pJ per multiply-accumulate" in html
    assert "not a measurement" in html
    m = json.loads((out / "metrics.json").read_text())
    assert "plots" in m["wall_time_s"] and m["wall_time_s"]["plots"] < 30
    assert m["layers"][0]["name"] == "relu"


def test_scatter_points_are_capped_and_seeded():
    node = n.IF("l")

    def run(seed):
        acc = LayerAccumulator(node, (50,), 8, num_samples=5000, scatter_cap=300, seed=seed)
        rng = np.random.default_rng(0)
        for _ in range(20):
            acc.update(rng.integers(0, 9, (250, 50)).astype(np.float32),
                       rng.uniform(0, 1, (250, 50)).astype(np.float32))
        return acc.diagnostics().scatter

    a, b = run(0), run(0)
    assert len(a) <= 300 and np.array_equal(a, b)
    assert not np.array_equal(a, run(1))


def test_report_without_ann_or_example_still_renders(tmp_path, make_small_net, parse_report):
    snn, x, y = make_small_net()
    snn.ann_graph = None
    res = snn.simulate(x[:5], y[:5], timesteps=4, example_sample=None)
    res.save(tmp_path)
    p = parse_report((tmp_path / "report.html").read_text("utf-8"))
    assert [t for tag, t in p.headings if tag == "h2"] == HEADINGS
    assert 1 <= len(p.imgs) < len(PLOTS)
    assert not (tmp_path / "correlation.png").exists()
