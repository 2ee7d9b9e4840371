"""The whole job from a RunConfig: evaluate the ANN, normalize, convert, simulate."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .api import convert
from .backends import get_backend, simulate
from .config import RunConfig
from .data import calibration_data, load_dataset
from .errors import ModelFileError
from .files import write_atomic
from .frontends import import_model
from .ir import Encoding, Graph, coerce
from .network import SNN
from .passes.rescale import fold_threshold_and_dt
from .results import SimulationResult

log = logging.getLogger(__name__)


def load_user_model(spec: str, weights: str | None, sample: np.ndarray):
    """``file.py:ClassName`` (+ a state_dict loaded with weights_only=True) or a model file."""
    if ":" in spec and spec.split(":", 1)[0].endswith(".py"):
        file, cls_name = spec.split(":", 1)
        path = Path(file)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such Python file")
        mod_name = f"_ann2snn_user_{path.stem}"
        mspec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(mspec)
        sys.modules[mod_name] = module
        try:
            mspec.loader.exec_module(module)
        except Exception as e:  # the user's file: report, don't crash
            raise ModelFileError(f"{path}: importing it failed: {type(e).__name__}: {e}") from None
        cls = getattr(module, cls_name, None)
        if cls is None:
            raise ModelFileError(f"{path} has no class '{cls_name}'")
        try:
            model = cls()
        except Exception as e:
            raise ModelFileError(f"{path}:{cls_name}() failed: {type(e).__name__}: {e}") from None
        if weights:
            model.load_state_dict(load_state_dict(weights, model))
        return import_model(model, sample)
    if weights:
        raise ModelFileError("--weights is only used with MODEL given as file.py:ClassName")
    return import_model(spec)


def load_state_dict(path: str, model: torch.nn.Module) -> dict:
    """Read a state_dict without unpickling arbitrary objects, and check its keys."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: no such weights file")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle refused, not a torch file
        raise ModelFileError(f"{p} is not a readable state_dict (saved with torch.save("
                             f"model.state_dict(), ...)): {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(state, dict):
        raise ModelFileError(f"{p} holds a {type(state).__name__}, not a state_dict")
    want = set(model.state_dict())
    missing, unexpected = sorted(want - set(state)), sorted(set(state) - want)
    if missing or unexpected:
        raise ModelFileError(f"{p} does not fit the model: missing keys {missing[:8]}, "
                             f"unexpected keys {unexpected[:8]}")
    return state


def run_pipeline(cfg: RunConfig, progress: bool = True
                 ) -> tuple[SNN, SimulationResult | None, Path]:
    """Run the configured job and write the run folder; returns (snn, result, folder)."""
    d, c, s = cfg.data, cfg.conversion, cfg.simulation
    out = Path(cfg.output.dir)
    if cfg.tools.simulate:  # an unknown backend or a missing package: before any work
        get_backend(s.backend, "run").require()
    t0 = time.perf_counter()
    calib = calibration_data(d.dataset, n=d.calibration_samples, data_dir=d.data_dir,
                             seed=d.seed, standardize=d.standardize, split=d.calibration_split)
    graph: Graph = load_user_model(cfg.model.path, cfg.model.weights, calib)
    snn = convert(graph, calib, percentile=c.percentile, method=c.method,
                  per_channel=c.per_channel, max_to_avg_pool=c.max_to_avg_pool, reset=c.reset,
                  v0=c.v0, softmax_readout=c.softmax_readout)
    encoding = coerce(Encoding, s.encoding, "simulation.encoding")
    if c.v_thresh != 1 or c.dt != 1:  # INIsim's threshold and time step (passes/rescale.py)
        g, ann = fold_threshold_and_dt(snn.graph, snn.ann_graph, c.v_thresh, c.dt,
                                       spike_input=encoding is not Encoding.ANALOG)
        snn = SNN(g, ann)
    convert_s = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    resolved = cfg.model_dump(mode="json")
    write_atomic(out / "config.json", json.dumps(resolved, indent=2).encode())
    if cfg.output.save_snn:
        snn.save(out / "net.snn")
    result = None
    if cfg.tools.simulate:
        test = load_dataset(d.dataset, "test", data_dir=d.data_dir, standardize=d.standardize)
        if d.sample_indices:
            test = test.subset(indices=d.sample_indices)
        result = simulate(snn, test, backend=s.backend, timesteps=s.timesteps,
                              batch_size=s.batch_size, device=s.device,
                              num_samples=d.num_samples, encoding=encoding,
                              input_rate=s.input_rate, seed=s.seed, window=s.window,
                              synaptic_delay=s.synaptic_delay,
                              evaluate_ann=cfg.tools.evaluate_ann, progress=progress,
                              config=resolved)
        result.wall_time_s["convert"] = convert_s
        result.save(out)
    return snn, result, out
