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
from .backends import DEFAULT, get_backend, simulate
from .config import RunConfig
from .data import calibration_data, load_dataset
from .errors import ConfigError, ModelFileError
from .files import atomic_dir, write_atomic
from .frontends import import_model
from .ir import Encoding, Graph, coerce
from .network import SNN
from .passes.rescale import fold_threshold_and_dt
from .report.run_folder import write_run_files
from .results import SimulationResult
from .threads import set_threads
from .validate import device_name, writable_output

log = logging.getLogger(__name__)


def is_python_class(spec: str) -> bool:
    """Whether a model argument is ``file.py:ClassName``."""
    return ":" in spec and spec.split(":", 1)[0].endswith(".py")


def check_model_spec(spec: str, weights: str | None, random_weights: bool = False,
                     weights_option: str = "--weights") -> None:
    """The cheap checks of a model argument, before any data are loaded: the files
    exist, the format is known, and a ``file.py:ClassName`` has weights (a class alone
    has its random initial weights: refused unless ``random_weights``)."""
    if not is_python_class(spec):
        if weights:
            raise ModelFileError(f"{weights_option} is only used with a model given as "
                                 "file.py:ClassName")
        from .frontends import check_model_file

        check_model_file(spec)
        return
    path = Path(spec.split(":", 1)[0])
    if not path.is_file():
        raise ModelFileError(f"{path}: no such Python file")
    if weights and not Path(weights).is_file():
        raise ModelFileError(f"{weights}: no such weights file")
    if not weights and not random_weights:
        raise ModelFileError(
            f"{spec} is a class: without {weights_option} its weights are random, not "
            f"trained. Give the trained weights ({weights_option} model.pth, saved with "
            "torch.save(model.state_dict(), 'model.pth')), or pass --random-weights "
            "(random_weights = true in a config) if random weights are what you want")


def load_user_model(spec: str, weights: str | None, sample: np.ndarray,
                    random_weights: bool = False):
    """``file.py:ClassName`` (+ a state_dict loaded with weights_only=True) or a model
    file. A class without ``weights`` is refused unless ``random_weights``."""
    check_model_spec(spec, weights, random_weights)
    if is_python_class(spec):
        return import_model(user_module(spec, weights), sample)
    return import_model(spec)


def user_module(spec: str, weights: str | None) -> torch.nn.Module:
    """The torch module of ``file.py:ClassName`` (+ a state_dict, weights_only=True)."""
    file, cls_name = spec.split(":", 1)
    path = Path(file)
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
    return model


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


def run_pipeline(cfg: RunConfig, progress: bool = True, store=None
                 ) -> tuple[SNN, SimulationResult | None, Path]:
    """Run the configured job and write the run folder; returns (snn, result, folder).

    The model's files, the device and the output folder are checked before any work.
    In a torchrun job (ann2snn.scale.distributed) rank 0 converts, every rank gets its
    network, the batches are shared, and rank 0 writes the folder (the other ranks
    return result None). ``store`` (ann2snn.scale.store.BatchStore) keeps finished
    batches for a resume. The run folder appears complete, or not at all.
    """
    from .scale import distributed

    d, s = cfg.data, cfg.simulation
    check_model_spec(cfg.model.path, cfg.model.weights, cfg.model.random_weights,
                     "model.weights")
    _check_calibration(cfg)
    out = writable_output(cfg.output.dir, "output.dir", directory=True)
    if cfg.tools.simulate:
        device_name(s.device)
    set_threads(s.threads)
    if cfg.tools.simulate:  # an unknown backend or a missing package: before any work
        get_backend(s.backend, "run").require(load=False)
    ctx = distributed.context()
    t0 = time.perf_counter()
    graphs = distributed.broadcast(_graphs(_convert(cfg)) if ctx.is_root else None)
    snn = SNN(*graphs)
    convert_s = time.perf_counter() - t0
    resolved = cfg.model_dump(mode="json")
    same = json.loads(json.dumps(resolved))
    same["simulation"].pop("workers", None)  # the results do not depend on it
    result = None
    if cfg.tools.simulate:
        encoding = coerce(Encoding, s.encoding, "simulation.encoding")
        test = load_dataset(d.dataset, "test", data_dir=d.data_dir, standardize=d.standardize)
        if d.sample_indices:
            test = test.subset(indices=d.sample_indices)
        builtin = s.backend == DEFAULT  # the batch store is the built-in simulator's
        result = simulate(snn, test, backend=s.backend, timesteps=s.timesteps,
                          batch_size=s.batch_size, device=distributed.local_device(s.device),
                          num_samples=d.num_samples, encoding=encoding,
                          input_rate=s.input_rate, seed=s.seed, window=s.window,
                          synaptic_delay=s.synaptic_delay,
                          evaluate_ann=cfg.tools.evaluate_ann,
                          progress=progress and ctx.is_root, config=same,
                          **({"store": store} if builtin else {}))
        if result is not None:
            result.wall_time_s["convert"] = convert_s
    if ctx.is_root:
        with atomic_dir(out) as tmp:  # the run folder appears complete, or not at all
            write_atomic(tmp / "config.json", json.dumps(resolved, indent=2).encode())
            if cfg.output.save_snn:
                snn.save(tmp / "net.snn")
            if result is not None:
                write_run_files(result, tmp)
        if store is not None and cfg.tools.simulate and s.backend == DEFAULT:
            store.remove()
    distributed.barrier()
    return snn, result, out


def _convert(cfg: RunConfig) -> SNN:
    """The configured conversion (calibration data, model, normalization, rescaling)."""
    d, c, s = cfg.data, cfg.conversion, cfg.simulation
    calib = calibration_data(d.dataset, n=d.calibration_samples, data_dir=d.data_dir,
                             seed=d.seed, standardize=d.standardize, split=d.calibration_split)
    graph: Graph = load_user_model(cfg.model.path, cfg.model.weights, calib,
                                   cfg.model.random_weights)
    snn = convert(graph, calib, percentile=c.percentile, method=c.method,
                  per_channel=c.per_channel, max_to_avg_pool=c.max_to_avg_pool, reset=c.reset,
                  v0=c.v0, softmax_readout=c.softmax_readout,
                  calibrate_timesteps=c.calibrate_timesteps,
                  burst=c.burst,
                  readout=c.readout)
    encoding = coerce(Encoding, s.encoding, "simulation.encoding")
    if c.v_thresh != 1 or c.dt != 1:  # INIsim's threshold and time step (passes/rescale.py)
        g, ann = fold_threshold_and_dt(snn.graph, snn.ann_graph, c.v_thresh, c.dt,
                                       spike_input=encoding is not Encoding.ANALOG)
        snn = SNN(g, ann)
    if c.weight_bits is not None:  # integer mode (quantize/)
        from .quantize import quantize

        snn = quantize(snn, calibration=calib, weight_bits=c.weight_bits)
    return snn


def _check_calibration(cfg: RunConfig) -> None:
    """conversion.calibrate_timesteps reads training images only, of the network it
    returns: refused with test-split calibration images or INIsim's v_thresh / dt."""
    c = cfg.conversion
    if c.calibrate_timesteps is None:
        return
    if cfg.data.calibration_split != "train":
        raise ConfigError("conversion.calibrate_timesteps calibrates on training images only; "
                          "data.calibration_split is 'test': remove one of the two keys")
    if c.v_thresh != 1 or c.dt != 1:
        raise ConfigError("conversion.calibrate_timesteps does not combine with INIsim's "
                          "conversion.v_thresh / conversion.dt: remove one of them")


def _graphs(snn: SNN) -> tuple:
    return snn.graph, snn.ann_graph
