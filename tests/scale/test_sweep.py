"""`ann2snn sweep`: a 2 x 2 grid equals the four single runs, points are cached, and a
bad sweep file is refused before anything runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

MODEL = '''
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.pool = torch.nn.AvgPool2d(2)
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))
'''

SWEEP = '''
[model]
path = "model.py:Net"
random_weights = true  # the test compares runs of one seeded, untrained network

[data]
dataset = "digits"
num_samples = 40
calibration_samples = 100

[simulation]
batch_size = 16

[sweep]
{grid}
'''


def _write(tmp_path: Path, grid: str) -> Path:
    (tmp_path / "model.py").write_text(MODEL)
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(SWEEP.format(grid=grid))
    return cfg


def test_grid_equals_single_runs_and_is_cached(tmp_path, cli):
    from ann2snn.data import load_dataset
    from ann2snn.pipeline import _convert
    from ann2snn.scale.sweep import load_sweep

    cfg = _write(tmp_path, 'grid = { percentile = [99.0, 100.0], timesteps = [4, 8] }')
    code, out, err = cli("sweep", cfg, "--out", tmp_path / "sw", "-q")
    assert code == 0, err
    sw = tmp_path / "sw"
    with open(sw / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert [(r["percentile"], r["timesteps"]) for r in table] == [
        ("99.0", "4"), ("99.0", "8"), ("100.0", "4"), ("100.0", "8")]
    for name in ("pareto.png", "sweep.md", "sweep.html"):
        assert (sw / name).stat().st_size > 100
    assert "percentile-99.0_timesteps-8" in (sw / "sweep.html").read_text()
    for point, row in zip(load_sweep(cfg, sw).points, table):
        folder = sw / "points" / point.name
        assert (folder / "report.html").is_file()
        assert float(row["snn_accuracy"]) == json.loads(
            (folder / "metrics.json").read_text())["snn_accuracy"]
    # every point again, converted and simulated on its own by the API
    for point in load_sweep(cfg, sw).points:
        c = point.config
        snn = _convert(c)
        res = snn.simulate(load_dataset("digits", "test"), timesteps=c.simulation.timesteps,
                           batch_size=16, num_samples=40)
        want = json.loads(json.dumps(res.metrics()))
        got = json.loads((sw / "points" / point.name / "metrics.json").read_text())
        for m in (want, got):
            m.pop("wall_time_s"), m.pop("config")
        assert got == want
    assert not list(sw.glob("points/*.partial"))
    before = (sw / "points" / table[0]["point"] / "metrics.json").stat().st_mtime_ns
    code, _, err = cli("sweep", cfg, "--out", sw, "-q")  # cached: nothing runs again
    assert code == 0, err
    assert (sw / "points" / table[0]["point"] / "metrics.json").stat().st_mtime_ns == before


def test_bad_sweeps_are_refused_before_anything_runs(tmp_path, cli):
    for grid, message in [
        ("grid = { percentil = [99.0] }", "unknown sweep key 'percentil' (did you mean "
                                          "'percentile'?)"),
        ("grid = {}", "sweep.grid is empty"),
        ("grid = { timesteps = [] }", "sweep.grid.timesteps must be a non-empty list"),
        ("grid = { timesteps = [0] }", "simulation.timesteps"),
    ]:
        cfg = _write(tmp_path, grid)
        code, _, err = cli("sweep", cfg, "--out", tmp_path / "sw")
        assert code == 2 and message in err, (grid, err)
        assert not (tmp_path / "sw").exists()
