"""Run SNN Toolbox (snntoolbox 0.6.0) INI config files: ``ann2snn run config.ini``.

:func:`config_from_ini` reads the file the way snntoolbox does (``configparser`` with
case-sensitive keys, snntoolbox's defaults for every key left out) and translates it
into a :class:`~ann2snn.config.RunConfig` with the same meaning as INIsim's
``temporal_mean_rate`` simulation:

- the model is ``path_wd/filename_ann.h5`` (``model_lib = keras``), the data set the
  npz files or image folders in ``dataset_path``, and the outputs go to
  ``log_dir_of_current_run`` (default ``path_wd/log/gui/runlabel``);
- ``int(duration / dt)`` steps; ``v_thresh`` and ``dt`` are folded into the weights
  exactly (``conversion.v_thresh``/``dt``, applied by passes/rescale.py); the test
  samples are the ones INIsim tests: the first ``num_to_test`` (raised to
  ``batch_size`` and rounded down to whole batches), or the ``sample_idxs_to_test``
  that fill whole batches;
- ``simulator = INI`` runs the built-in simulator; ``brian2`` and ``nest`` run those
  backends with the synaptic delay of 1 step they impose (simulators.py);
- calibration on all of ``x_norm.npz`` (whole batches), or for image folders on
  ``train/`` or, in snntoolbox's own layout, on the test images as snntoolbox does (with
  a warning); percentile of the non-zero activations, reset by subtraction or to zero;
- INIsim's semantics whatever ann2snn's own defaults are: one scale per layer and an
  initial membrane of 0 (ann2snn converts per channel with v0 = 0.5 by default).

Keys ann2snn does not implement but which cannot change INIsim's results are named in
one warning. Values that would change the results, unknown sections and keys, and bad
values are one :class:`~ann2snn.errors.ConfigError` listing every problem.
docs/migration-from-snntoolbox.md has the key-by-key table.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import Any

from ...config.schema import RunConfig, validate
from ...errors import ConfigError
from .inputs import dataset_spec, model_spec, test_samples
from .keys import IGNORED, SECTIONS, UNSUPPORTED
from .simulators import simulator_backend
from .values import Values, read_ini

log = logging.getLogger(__name__)

RESETS = {"Reset by subtraction": "subtract", "Reset to zero": "zero"}


def config_from_ini(path: str | Path) -> RunConfig:
    """Translate an SNN Toolbox INI config into a :class:`RunConfig` (see the module doc)."""
    path = Path(path).expanduser().absolute()
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    v = Values(read_ini(path), str(path))
    if not v.errors:
        for (section, name) in list(v.given):
            key = SECTIONS[section][name]
            if key.kind == IGNORED and v.is_set(section, name):
                v.ignore(section, name, key.note)
            elif key.kind == UNSUPPORTED and v.is_set(section, name):
                v.error(section, name, key.note)
    data: dict[str, Any] = {}
    if not v.errors:
        data = _translate(v, path)
    if v.errors:
        raise ConfigError(f"{path}: cannot run this SNN Toolbox config:\n  - "
                          + "\n  - ".join(v.errors))
    cfg = validate(data, str(path))
    if v.ignored:
        log.warning("%s: ann2snn ignores these SNN Toolbox settings (they do not change "
                    "INIsim's accuracy, or ann2snn does the equivalent itself):\n  - %s",
                    path, "\n  - ".join(v.ignored))
    return cfg


def _translate(v: Values, path: Path) -> dict[str, Any]:
    base = path.parent

    def resolve(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else base / q

    # -- [paths] ------------------------------------------------------------------
    path_wd = resolve(v.get("paths", "path_wd")) if v.get("paths", "path_wd") else base
    if not path_wd.is_dir():
        v.error("paths", "path_wd", f"working directory {path_wd} does not exist")
    log_dir = v.get("paths", "log_dir_of_current_run")
    out = resolve(log_dir) if log_dir else path_wd / "log" / "gui" / v.get("paths", "runlabel")
    model = model_spec(v, path_wd)

    # -- [simulation] -------------------------------------------------------------
    backend = simulator_backend(v)
    if v.get("simulation", "keras_backend") != "tensorflow":
        v.error("simulation", "keras_backend", "ann2snn reads Keras files without any "
                "backend; remove the key")
    dt = v.get("simulation", "dt")
    duration = v.get("simulation", "duration")
    steps = 1
    if dt <= 0:
        v.error("simulation", "dt", "must be > 0 (ms per time step)")
    elif duration < 1:
        v.error("simulation", "duration", "must be at least 1 (ms of simulated time)")
    else:
        steps = int(duration / dt)  # INIsim's _num_timesteps (simulation/utils.py)
        if steps < 1:
            v.error("simulation", "dt", f"duration / dt = {duration / dt:g} gives no time "
                    "step; make dt at most duration")
            steps = 1
    batch = v.get("simulation", "batch_size")
    if batch < 1:
        v.error("simulation", "batch_size", "must be at least 1")
        batch = 1
    if v.get("simulation", "top_k") != 1:
        v.error("simulation", "top_k", "ann2snn reports top-1 accuracy only; set top_k = 1 "
                "or remove the key")
    num_samples, indices = test_samples(v, batch)

    # -- [input] ------------------------------------------------------------------
    dataset, calib, calib_split = dataset_spec(v, resolve, batch)
    poisson = v.get("input", "poisson_input")
    rate = v.get("input", "input_rate") * dt / 1000.0
    if not poisson and v.is_set("input", "input_rate"):
        v.ignore("input", "input_rate", "only used with poisson_input = True")
    if poisson and rate <= 0:
        v.error("input", "input_rate", "must be > 0 (Hz)")

    # -- [normalization], [conversion], [cell] -------------------------------------
    pct = v.get("normalization", "percentile")
    if not 0 < pct <= 100:
        v.error("normalization", "percentile", "must be in (0, 100]")
    code = v.get("conversion", "spike_code")
    if code != "temporal_mean_rate":
        v.error("conversion", "spike_code", "ann2snn implements the rate code only; set "
                "spike_code = temporal_mean_rate (its 'ttfs' input encoding is not "
                "snntoolbox's ttfs neuron model)")
    v_thresh = v.get("cell", "v_thresh")
    if v_thresh <= 0:
        v.error("cell", "v_thresh", "must be > 0")
    if v.get("cell", "tau_refrac") != 0:
        v.error("cell", "tau_refrac", "refractory periods are not implemented; set "
                "tau_refrac = 0")
    reset = v.get("cell", "reset")
    if reset not in RESETS:
        close = difflib.get_close_matches(reset, [*RESETS, "Reset by modulo"], n=1)
        if reset == "Reset by modulo":
            msg = "reset by modulo is not implemented"
        else:
            msg = "unknown reset (INIsim would silently reset to zero)"
            if close:
                msg += f"; did you mean '{close[0]}'?"
        v.error("cell", "reset", f"{msg}; use 'Reset by subtraction' or 'Reset to zero'")
    if not v.get("tools", "convert"):
        v.ignore("tools", "convert", "ann2snn always converts the model (it takes seconds)")

    return {
        "model": model,
        "data": {"dataset": dataset, "num_samples": num_samples, "sample_indices": indices,
                 "calibration_samples": calib, "calibration_split": calib_split},
        "conversion": {
            "method": "percentile", "percentile": pct, "per_channel": False,
            "max_to_avg_pool": v.get("conversion", "max2avg_pool"),
            "reset": RESETS.get(reset, "subtract"), "v0": 0.0,
            "v_thresh": v_thresh if v_thresh > 0 else 1.0, "dt": dt if dt > 0 else 1.0,
            "softmax_readout": "spikes" if v.get("conversion", "softmax_to_relu")
            else "membrane"},
        "simulation": {**backend, "timesteps": steps, "batch_size": batch,
                       "encoding": "poisson" if poisson else "analog",
                       "input_rate": rate if rate > 0 else 1.0},
        "tools": {"evaluate_ann": v.get("tools", "evaluate_ann"),
                  "convert": v.get("tools", "convert"),
                  "simulate": v.get("tools", "simulate")},
        "output": {"dir": str(out)},
    }
