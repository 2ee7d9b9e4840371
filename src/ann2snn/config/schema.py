"""The configuration of ``ann2snn run``: a typed, validated model of every key.

Unknown keys are errors with a "did you mean"; relative paths are resolved against the
config file's folder. Every file format (config/toml.py, the snntoolbox INI format in
compat/snntoolbox/) is read into this same model.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Strict):
    path: str = Field(description="model file (.pt2, .onnx, .keras, .h5) or file.py:ClassName")
    weights: str | None = Field(None, description="state_dict .pth for file.py:ClassName")
    random_weights: bool = Field(False, description="convert file.py:ClassName with its "
                                 "random initial weights (no weights file)")


class DataConfig(_Strict):
    dataset: str = "digits"
    data_dir: str | None = None
    num_samples: int | None = Field(None, ge=1)
    calibration_samples: int = Field(1000, ge=1)
    calibration_split: Literal["train", "test"] = Field(
        "train", description="split the calibration images come from; 'test' only for "
        "snntoolbox's image-folder layout, which normalizes on the test images")
    standardize: bool = False
    seed: int = 0
    sample_indices: list[int] | None = None


class ConversionConfig(_Strict):
    method: Literal["percentile", "max"] = "percentile"
    percentile: float = Field(99.9, gt=0, le=100)
    per_channel: bool = True
    max_to_avg_pool: bool = False
    reset: Literal["subtract", "zero"] = "subtract"
    v0: float = 0.5
    softmax_readout: Literal["membrane", "spikes"] = "membrane"
    readout: Literal["membrane", "spike_count"] | None = Field(
        None, description="what the prediction is read from, for any output layer; None: "
        "the membrane after a softmax (softmax_readout), else spike counts")
    v_thresh: float = Field(1.0, gt=0, description="INIsim's threshold, in units of each "
                            "population's scale λ (folded into the weights: λ·v_thresh)")
    dt: float = Field(1.0, gt=0, description="INIsim's time step: analog input and biases "
                      "count dt per step (folded into the weights: λ/dt); timesteps stays "
                      "the number of steps")
    weight_bits: int | None = Field(None, ge=2, le=16, description="integer mode with "
                                    "weights of this width (quantize/); None: float")
    calibrate_timesteps: int | None = Field(None, ge=1, description="training-free "
                                            "calibration for this many steps "
                                            "(docs/low-latency.md); None: off")
    burst: int = Field(1, ge=1, description="spikes a hidden neuron may emit per step "
                       "(burst spikes, threshold λ/burst; docs/low-latency.md)")


class SimulationConfig(_Strict):
    timesteps: int = Field(64, ge=1)
    batch_size: int = Field(256, ge=1)
    device: str = "cpu"
    backend: str = Field("ann2snn", description="the backend that runs the network "
                         "(ann2snn simulate --backend): ann2snn, nest, brian2, ...")
    encoding: Literal["analog", "poisson", "ttfs"] = "analog"
    input_rate: float = Field(1.0, gt=0)
    seed: int = 0
    window: int | None = Field(None, ge=1)
    synaptic_delay: Literal[0, 1] = Field(0, description="steps a spike takes to the next "
                                          "population (1: as Brian2 and NEST)")
    workers: int = Field(1, ge=1, description="processes on this machine (torch.distributed; "
                         "results identical to one process; docs/scale-out.md)")
    threads: int | None = Field(None, ge=1, description="CPU threads (default: the CPUs this "
                                "process may use, at most 8; README 'Threads')")


class ToolsConfig(_Strict):
    evaluate_ann: bool = True
    convert: bool = True
    simulate: bool = True


class OutputConfig(_Strict):
    dir: str = "runs/run"
    save_snn: bool = True


class RunConfig(_Strict):
    model: ModelConfig
    data: DataConfig = DataConfig()
    conversion: ConversionConfig = ConversionConfig()
    simulation: SimulationConfig = SimulationConfig()
    tools: ToolsConfig = ToolsConfig()
    output: OutputConfig = OutputConfig()


def _did_you_mean(key: str, model: type[BaseModel]) -> str:
    close = difflib.get_close_matches(key, list(model.model_fields), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _section_model(loc: tuple) -> type[BaseModel]:
    model: type[BaseModel] = RunConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
    return model


def validate(data: dict, source: str = "config") -> RunConfig:
    """Validate a config dict; errors name every bad key with a suggestion."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(x) for x in loc)
            if err["type"] == "extra_forbidden":
                hint = _did_you_mean(str(loc[-1]), _section_model(loc))
                lines.append(f"unknown key '{key}'{hint}")
            elif err["type"] == "missing":
                lines.append(f"missing required key '{key}'")
            else:
                lines.append(f"'{key}': {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"{source}: " + "; ".join(lines)) from None


def resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    """Make model, weights, data and output paths relative to ``base`` absolute."""

    def fix(p: str | None) -> str | None:
        if p is None:
            return None
        file, sep, cls = p.partition(":") if p.count(":") == 1 and not p.startswith(
            ("npz:", "images:")) else (p, "", "")
        q = Path(file).expanduser()
        return str(q if q.is_absolute() else base / q) + (sep + cls if sep else "")

    cfg.model.path = fix(cfg.model.path)
    cfg.model.weights = fix(cfg.model.weights)
    cfg.data.data_dir = fix(cfg.data.data_dir)
    for prefix in ("npz:", "images:"):
        if cfg.data.dataset.startswith(prefix):
            cfg.data.dataset = prefix + fix(cfg.data.dataset[len(prefix):])
    cfg.output.dir = fix(cfg.output.dir)
    return cfg
